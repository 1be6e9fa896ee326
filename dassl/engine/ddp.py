"""DistributedDataParallel for trainers: only the trainable tensors are synchronised.

Prompt-tuning trainers optimise a few tensors inside a large frozen CLIP and reach into their network
(``self.model.prompt_learner``, ``self.model.image_features``...). Replacing ``self.model`` by a DDP
wrapper would break those accesses and put ``module.`` in front of checkpoint keys. Instead
:class:`LossStep` holds only the trainable parameters (the same tensor objects, so checkpoints and
attribute access are untouched) and its ``forward`` runs the trainer's loss function; DDP wraps that
step, so gradients of the trainable tensors are averaged over the processes during ``backward()`` and
the frozen CLIP is neither broadcast nor synchronised.
"""

from torch import nn
from torch.nn.parallel import DistributedDataParallel

__all__ = ["LossStep", "ddp_loss_step", "wrap_model"]


def _device_ids(device):
    return [device.index if device.index is not None else 0] if device.type == "cuda" else None


def wrap_model(module, device):
    """``module`` in DDP on ``device`` (Dassl-style models whose every parameter trains)."""
    return DistributedDataParallel(module, device_ids=_device_ids(device))


class LossStep(nn.Module):
    """A module whose parameters are ``params`` and whose forward is ``compute_loss(*inputs)``."""

    def __init__(self, params, compute_loss):
        super().__init__()
        self.params = nn.ParameterList(params)
        self.compute_loss = compute_loss

    def forward(self, *inputs):
        return self.compute_loss(*inputs)


def ddp_loss_step(params, compute_loss, device):
    """DDP around :class:`LossStep`: call it like ``compute_loss``; backward then averages the gradients.

    Parameters that a step does not use (routed experts, optional branches) are tolerated
    (``find_unused_parameters``). The step holds no buffers and no frozen tensor: the frozen parts hold
    the same values on every rank, and rank 0's trainable values are broadcast once, here.
    """
    params = list(params)
    if not params:
        raise ValueError("Distributed training needs at least one trainable parameter")
    return DistributedDataParallel(
        LossStep(params, compute_loss),
        device_ids=_device_ids(device),
        find_unused_parameters=True,
    )
