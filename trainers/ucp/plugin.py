"""The CaPT plug-in: a class condition -> meta-net -> one offset per class, added to every context token.

One module, :class:`ClassConditioner`, serves every wrapped method (CoOp, KgCoOp, ProGrad, DAPT, DePT). It
fills the offsets slot of the method's prompt learner (:mod:`trainers.common.class_offsets`) as its ``ucp``
child, so checkpoint keys read ``prompt_learner.ucp.unified_transfer.*`` as in the published checkpoints,
and the learner's ``context()`` becomes::

    prompt_c = [SOS], ctx_1 + m_c, ..., ctx_n + m_c, [tokens of "<name>."], [EOT], padding

The condition fed to the meta-net (``TRAINER.UCP.VERSION``):

* 0 - TCI: the frozen text feature of each class name (C x D), recomputed for every class list, never
  saved, so prompts of unseen classes come from their names;
* 1 - FRN: one N(0, 1) vector (1 x D) drawn at build time, kept as a buffer so evaluation reuses it;
* 2 - VTI: the mean frozen image feature of the few-shot training images (1 x D);
* 3 - VCI: the per-class mean of those image features (C x D).

A (1 x D) condition gives every class the same offset.
"""

from __future__ import annotations

import torch
from torch import nn

from trainers.ucp.meta_net import build_meta_net

CONDITION_NAMES = {0: "TCI", 1: "FRN", 2: "VTI", 3: "VCI"}


class ClassConditioner(nn.Module):
    """Maps a condition [C or 1, D_in] to context offsets [C or 1, D_out] (the module of an offsets slot).

    Args:
        condition: the meta-net input (see the module docstring).
        out_dim: width of the context tokens (the text transformer width).
        module / hidden_dim / dropout: meta-net shape (``build_meta_net``).
        scale: fixed input multiplier when > 0; otherwise a learnable gate ``sigmoid(a)``, ``a`` = 0 at start.
        dtype: dtype of the meta-net parameters (the CLIP dtype: fp16 on GPU as published).
        persistent: store the condition as a buffer (saved with the checkpoint) instead of a plain tensor.
    """

    def __init__(self, condition: torch.Tensor, out_dim: int, module: str = "mlp", hidden_dim: int = 32,
                 dropout: float = 0.0, scale: float = 1.0, dtype: torch.dtype = torch.float32,
                 persistent: bool = False):
        super().__init__()
        if condition.dim() != 2:
            raise ValueError(f"the meta-net condition must be [C, D], got shape {tuple(condition.shape)}")
        net = build_meta_net(module, condition.shape[1], out_dim, hidden_dim, dropout)
        self.unified_transfer = net.to(dtype)
        if scale > 0:
            self.scale = float(scale)
        else:
            self.scale = nn.Parameter(torch.zeros((), dtype=dtype))
        condition = condition.detach().to(dtype)
        if persistent:
            self.register_buffer("condition", condition)
        else:
            # A plain attribute: it belongs to the current class list and must never be loaded from a run
            # trained on other classes.
            self.class_tokens = condition

    @property
    def input(self) -> torch.Tensor:
        return self.condition if "condition" in self._buffers else self.class_tokens

    def offsets(self) -> torch.Tensor:
        """The per-class offsets ``m`` [C or 1, D_out]."""
        param = next(self.unified_transfer.parameters())
        x = self.input.to(device=param.device, dtype=param.dtype)
        gate = self.scale if isinstance(self.scale, float) else torch.sigmoid(self.scale)
        return self.unified_transfer(x * gate)

    def forward(self) -> torch.Tensor:
        """The offsets: what a prompt learner's offsets slot adds to every context token of each class."""
        return self.offsets()

    def trainable_params(self) -> list[nn.Parameter]:
        return list(self.parameters())


def attach(learner: nn.Module, conditioner: ClassConditioner) -> nn.Module:
    """Put ``conditioner`` in the offsets slot of ``learner`` as its ``ucp`` child (checkpoint keys
    ``<learner>.ucp.*``, as published); returns ``learner``."""
    learner.attach_class_offsets(conditioner, "ucp")
    return learner
