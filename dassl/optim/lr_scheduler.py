"""Epoch-wise learning-rate schedules with optional warm-up.

Trainers step the scheduler once per epoch, after the last batch, so epoch
``e`` (0-based) trains with ``lr(e)``. With base rate ``L``, ``W`` warm-up
epochs and ``T = MAX_EPOCH`` (cosine, constant warm-up, recount)::

    lr(e) = WARMUP_CONS_LR                       for 0 <= e < W
    lr(e) = L * (1 + cos(pi * (e - W) / T)) / 2  for e >= W

A linear warm-up gives ``WARMUP_MIN_LR`` at ``e = 0`` and ``L * e / W`` for
``0 < e < W``. The warm-up wrappers delegate to a "successor" scheduler once
warm-up is over; their ``state_dict`` stores the successor's state dict (not
the object), so checkpoints hold only plain data.
"""

from collections import Counter

import torch
from torch.optim.lr_scheduler import LRScheduler

__all__ = [
    "AVAI_SCHEDS",
    "ConstantWarmupScheduler",
    "LinearWarmupScheduler",
    "MultiStepLR",
    "build_lr_scheduler",
]

AVAI_SCHEDS = ["single_step", "multi_step", "cosine"]


class _BaseWarmupScheduler(LRScheduler):
    def __init__(self, optimizer, successor, warmup_epoch, last_epoch=-1):
        self.successor = successor
        self.warmup_epoch = warmup_epoch
        super().__init__(optimizer, last_epoch)

    def warmup_lr(self):
        raise NotImplementedError

    def get_lr(self):
        if self.last_epoch >= self.warmup_epoch:
            return list(self.successor.get_last_lr())
        return self.warmup_lr()

    def step(self, epoch=None):
        if self.last_epoch >= self.warmup_epoch:
            # Warm-up is over: the successor sets the optimizer's rates.
            self.successor.step(epoch)
            self._last_lr = list(self.successor.get_last_lr())
        else:
            super().step(epoch)

    def state_dict(self):
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "successor")}
        state["successor"] = self.successor.state_dict()
        return state

    def load_state_dict(self, state_dict):
        state = dict(state_dict)
        successor_state = state.pop("successor", None)
        if isinstance(successor_state, LRScheduler):
            # Checkpoints of the original Dassl pickle the successor object itself.
            successor_state = successor_state.state_dict()
        state.pop("verbose", None)
        self.__dict__.update(state)
        if successor_state is not None:
            self.successor.load_state_dict(successor_state)


class ConstantWarmupScheduler(_BaseWarmupScheduler):
    """Train at ``cons_lr`` for ``warmup_epoch`` epochs, then follow ``successor``."""

    def __init__(self, optimizer, successor, warmup_epoch, cons_lr, last_epoch=-1):
        self.cons_lr = cons_lr
        super().__init__(optimizer, successor, warmup_epoch, last_epoch)

    def warmup_lr(self):
        return [self.cons_lr for _ in self.base_lrs]


class LinearWarmupScheduler(_BaseWarmupScheduler):
    """Start at ``min_lr``, ramp linearly to the base rate in ``warmup_epoch`` epochs, then ``successor``."""

    def __init__(self, optimizer, successor, warmup_epoch, min_lr, last_epoch=-1):
        self.min_lr = min_lr
        super().__init__(optimizer, successor, warmup_epoch, last_epoch)

    def warmup_lr(self):
        if self.last_epoch == 0:
            return [self.min_lr for _ in self.base_lrs]
        return [lr * self.last_epoch / self.warmup_epoch for lr in self.base_lrs]


class MultiStepLR(torch.optim.lr_scheduler.MultiStepLR):
    """torch's MultiStepLR whose state dict stores the milestones as a plain dict."""

    def state_dict(self):
        state = super().state_dict()
        state["milestones"] = dict(state["milestones"])
        return state

    def load_state_dict(self, state_dict):
        state = dict(state_dict)
        state["milestones"] = Counter(state.get("milestones", {}))
        super().load_state_dict(state)


def build_lr_scheduler(optimizer, optim_cfg):
    """Return the scheduler named ``optim_cfg.LR_SCHEDULER``, wrapped by a warm-up if configured."""
    name = optim_cfg.LR_SCHEDULER
    stepsize = optim_cfg.STEPSIZE
    max_epoch = optim_cfg.MAX_EPOCH
    if name not in AVAI_SCHEDS:
        raise ValueError(f"Unknown OPTIM.LR_SCHEDULER '{name}'; choose from {AVAI_SCHEDS}")

    if name == "single_step":
        if isinstance(stepsize, (list, tuple)):
            stepsize = stepsize[-1]
        if not isinstance(stepsize, int):
            raise TypeError(f"single_step needs an integer OPTIM.STEPSIZE, got {stepsize!r}")
        if stepsize <= 0:
            stepsize = max_epoch
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=stepsize, gamma=optim_cfg.GAMMA)
    elif name == "multi_step":
        if not isinstance(stepsize, (list, tuple)):
            raise TypeError(f"multi_step needs a list of epochs as OPTIM.STEPSIZE, got {stepsize!r}")
        scheduler = MultiStepLR(optimizer, milestones=list(stepsize), gamma=optim_cfg.GAMMA)
    else:
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, float(max_epoch))

    if optim_cfg.WARMUP_EPOCH > 0:
        if not optim_cfg.WARMUP_RECOUNT:
            scheduler.last_epoch = optim_cfg.WARMUP_EPOCH
        if optim_cfg.WARMUP_TYPE == "constant":
            scheduler = ConstantWarmupScheduler(
                optimizer, scheduler, optim_cfg.WARMUP_EPOCH, optim_cfg.WARMUP_CONS_LR
            )
        elif optim_cfg.WARMUP_TYPE == "linear":
            scheduler = LinearWarmupScheduler(
                optimizer, scheduler, optim_cfg.WARMUP_EPOCH, optim_cfg.WARMUP_MIN_LR
            )
        else:
            raise ValueError(
                f"Unknown OPTIM.WARMUP_TYPE '{optim_cfg.WARMUP_TYPE}'; choose from constant, linear"
            )
    return scheduler
