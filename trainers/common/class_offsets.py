"""Per-class context offsets: the slot through which a plug-in conditions a prompt learner's context.

A prompt learner with learnable context tokens ``ctx`` builds its prompts from ``ctx`` itself, or, once a
module fills its offsets slot, from ``ctx + m_c`` on every context token of class ``c``, where the module
returns ``m`` [C or 1, W] when called without arguments. The module becomes a child of the learner under
the name the plug-in chooses, so its parameters (and checkpoint keys) sit inside the learner's. The learner
needs nothing else from the plug-in, and the plug-in nothing but this slot from the learner.
"""

from __future__ import annotations

import torch
from torch import nn


def add_class_offsets(ctx: torch.Tensor, offsets: torch.Tensor, n_cls: int) -> torch.Tensor:
    """``ctx + m_c`` on every context token: ctx [n_ctx, W] or [C, n_ctx, W], offsets [C or 1, W] ->
    [C, n_ctx, W] (one row of offsets is shared by all classes)."""
    width = ctx.shape[-1]
    if offsets.dim() != 2 or offsets.shape[-1] != width:
        raise ValueError(f"per-class offsets must be [C, {width}] (the context width), "
                         f"got {tuple(offsets.shape)}")
    if offsets.shape[0] not in (1, n_cls):
        raise ValueError(f"{offsets.shape[0]} per-class offsets for {n_cls} classes")
    if ctx.dim() == 2:
        ctx = ctx.unsqueeze(0)
    out = ctx + offsets[:, None, :].to(ctx.dtype)
    return out.expand(n_cls, -1, -1) if out.shape[0] == 1 else out


class ClassOffsetSlot:
    """Mixin of an ``nn.Module`` prompt learner: an optional child module giving per-class offsets.

    The learner implements ``context()`` with :meth:`offset_context`; empty slot = the plain context.
    """

    _offsets_name: str | None = None

    def attach_class_offsets(self, module: nn.Module, name: str) -> None:
        """Fill the slot with ``module`` as the child ``name`` (checkpoint keys ``<learner>.<name>.*``)."""
        if self._offsets_name is not None:
            raise ValueError(f"{type(self).__name__} already carries class offsets "
                             f"({self._offsets_name!r})")
        self.add_module(name, module)
        self._offsets_name = name

    @property
    def class_offsets(self) -> nn.Module | None:
        """The module in the slot, or ``None``."""
        return None if self._offsets_name is None else self._modules[self._offsets_name]

    def offset_context(self, ctx: torch.Tensor, n_cls: int) -> torch.Tensor:
        """``ctx`` as [C, n_ctx, W], with the slot's offsets added when it is filled."""
        module = self.class_offsets
        if module is None:
            return ctx if ctx.dim() == 3 else ctx.unsqueeze(0).expand(n_cls, -1, -1)
        return add_class_offsets(ctx, module(), n_cls)
