"""Gaussian prompt aggregation (GPA, from PromptSRC) as a small stateful object.

PromptSRC does not deploy the last-epoch prompts: it deploys a weighted average of the prompts seen at
the end of every epoch, with weights following a Gaussian over the epoch index. Keeping it here, out of
the training step, lets it be unit-tested and saved/resumed with the run; :class:`GPAHook` runs it from
the trainer's epoch loop.
"""

from __future__ import annotations

import logging
import math

import torch
from torch import nn

from dassl.engine.hooks import HookBase

log = logging.getLogger(__name__)


def gaussian_weights(num_epochs: int, mean: float, std: float) -> list[float]:
    """``w_e ∝ exp(-(e - mean)^2 / (2 std^2))`` for ``e = 1..num_epochs``, normalised to sum 1."""
    if num_epochs < 1:
        raise ValueError(f"GPA needs at least one epoch, got {num_epochs}")
    if std <= 0:
        raise ValueError(f"GPA_STD must be positive, got {std}")
    raw = [math.exp(-((e - mean) ** 2) / (2.0 * std * std)) for e in range(1, num_epochs + 1)]
    total = sum(raw)
    if total == 0.0:  # every weight underflowed: the mean lies far outside 1..num_epochs
        raise ValueError(
            f"GPA_MEAN {mean} with GPA_STD {std} gives zero weight to all epochs 1..{num_epochs}"
        )
    return [w / total for w in raw]


class GaussianPromptAggregation:
    """Running ``Θ = Σ_e w_e θ_e`` over the named tensors of a module.

    Only the tensors given by ``names`` are aggregated (the trainable prompts); frozen tensors would be
    unchanged anyway because the weights sum to one.

    Args:
        num_epochs: total number of epochs E (the weights cover epochs 1..E).
        mean, std: the Gaussian's centre and width, in epochs (``GPA_MEAN``, ``GPA_STD``).
    """

    def __init__(self, num_epochs: int, mean: float, std: float):
        self.weights = gaussian_weights(num_epochs, mean, std)
        self.num_epochs = num_epochs
        self.average: dict[str, torch.Tensor] = {}
        self.epochs_seen: list[int] = []

    def update(self, epoch: int, named_tensors: dict[str, torch.Tensor]) -> None:
        """Add ``w_epoch * θ`` for a 0-based ``epoch`` (each epoch at most once)."""
        if not 0 <= epoch < self.num_epochs:
            raise ValueError(f"epoch {epoch} outside 0..{self.num_epochs - 1}")
        if epoch in self.epochs_seen:
            raise ValueError(f"epoch {epoch} was already aggregated")
        w = self.weights[epoch]
        for name, tensor in named_tensors.items():
            value = tensor.detach().float() * w
            if name in self.average:
                self.average[name] = self.average[name] + value
            else:
                self.average[name] = value.clone()
        self.epochs_seen.append(epoch)

    @property
    def complete(self) -> bool:
        return len(self.epochs_seen) == self.num_epochs

    def load_into(self, module: nn.Module) -> list[str]:
        """Copy the aggregate into ``module``'s parameters/buffers of the same names; returns them."""
        if not self.average:
            raise RuntimeError("GPA has aggregated nothing yet")
        tensors = dict(module.named_parameters())
        tensors.update(dict(module.named_buffers()))
        missing = [n for n in self.average if n not in tensors]
        if missing:
            raise KeyError(f"GPA tensors not found in the module: {missing}")
        with torch.no_grad():
            for name, value in self.average.items():
                tensors[name].copy_(value.to(dtype=tensors[name].dtype, device=tensors[name].device))
        return list(self.average)

    # -- persistence so that a resumed run keeps the epochs aggregated before the interruption
    def state_dict(self) -> dict:
        return {
            "weights": list(self.weights),
            "epochs_seen": list(self.epochs_seen),
            "average": {k: v.cpu() for k, v in self.average.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        if [round(w, 12) for w in state["weights"]] != [round(w, 12) for w in self.weights]:
            raise ValueError("saved GPA state was made with different GPA_MEAN/GPA_STD/MAX_EPOCH")
        self.epochs_seen = list(state["epochs_seen"])
        self.average = {k: v.clone() for k, v in state["average"].items()}


class GPAHook(HookBase):
    """Run :class:`GaussianPromptAggregation` over ``trainer.model``'s trainable tensors after every epoch
    and load the aggregate into the model after the last one, before that epoch's checkpoints are written
    (register it ahead of the checkpointing hooks: ``method_hooks``). Its state is checkpointed under
    ``"gpa"``, so a resumed run keeps the epochs aggregated before the interruption."""

    state_key = "gpa"

    def __init__(self, aggregation: GaussianPromptAggregation):
        self.aggregation = aggregation

    def after_epoch(self):
        trainer = self.trainer
        gpa = self.aggregation
        gpa.update(trainer.epoch, {n: p for n, p in trainer.model.named_parameters() if p.requires_grad})
        if trainer.epoch + 1 != trainer.max_epoch:
            return
        if not gpa.complete:
            log.warning(f"GPA covers epochs {sorted(e + 1 for e in gpa.epochs_seen)} only "
                        "(the aggregate of earlier epochs was not found when resuming)")
        log.info("Using GPA model for final inference...")
        gpa.load_into(trainer.model)

    def state_dict(self) -> dict:
        return self.aggregation.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.aggregation.load_state_dict(state)
