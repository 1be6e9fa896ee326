"""The Diff-Manner Adapter of SAM: local depthwise-convolution context beside each frozen ViT block.

It works inside the student ViT on its token width (768 for ViT-B/16) and, for the MLP branch, on the MLP
hidden width (4x).
"""

from __future__ import annotations

import torch
from torch import nn

from clip.prompts import grid_to_tokens, tokens_to_grid


class DiffMannerAdapter(nn.Module):
    """Local context next to a frozen block's global attention: ``X <- X + alpha * DWConv(X_hat)``.

    The depthwise convolution runs over the patch tokens only (class token and prompt tokens excluded,
    located through the block's ``TokenLayout``) of the block's normalised input; with ``mlp_width`` a
    second depthwise convolution does the same on the MLP hidden channels. Weights start at zero, so the
    adapted encoder starts exactly at the frozen one. ``alpha`` is a float or a per-sample tensor [B].
    """

    def __init__(self, width: int, kernel_size: int = 3, mlp_width: int | None = None):
        super().__init__()
        self.local = self._dwconv(width, kernel_size)
        self.mlp_local = self._dwconv(mlp_width, kernel_size) if mlp_width else None
        self.alpha: float | torch.Tensor = 0.1

    @staticmethod
    def _dwconv(channels: int, kernel_size: int) -> nn.Conv2d:
        conv = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2, groups=channels,
                         bias=False)
        nn.init.zeros_(conv.weight)
        return conv

    def _branch(self, conv: nn.Conv2d, x: torch.Tensor, layout) -> torch.Tensor | None:
        if layout is None or layout.num_patches == 0:
            return None
        grid = tokens_to_grid(x.to(conv.weight.dtype), layout)
        out = grid_to_tokens(conv(grid), layout)
        alpha = self.alpha
        if isinstance(alpha, torch.Tensor):
            alpha = alpha.to(out).reshape(-1, 1, 1)
        return alpha * out

    def forward(self, normed_tokens: torch.Tensor, layout) -> torch.Tensor | None:
        return self._branch(self.local, normed_tokens, layout)

    def mlp_residual(self, hidden: torch.Tensor, layout) -> torch.Tensor | None:
        return None if self.mlp_local is None else self._branch(self.mlp_local, hidden, layout)


class AdapterSet(nn.ModuleDict):
    """Adapters keyed by ``str(block index)``, passed as ``adapters=`` to ``encode_image``."""

    def __init__(self, layers: list[int], width: int, kernel_size: int = 3, mlp_branch: bool = True):
        super().__init__({str(i): DiffMannerAdapter(width, kernel_size, 4 * width if mlp_branch else None)
                          for i in layers})

    def set_alpha(self, alpha: float | torch.Tensor) -> None:
        for adapter in self.values():
            adapter.alpha = alpha


def dynamic_alpha(intensity: torch.Tensor, s: float, gamma: float) -> torch.Tensor:
    """alpha = s * c^gamma from the query's confusion intensity c = max_j S_j."""
    return s * intensity.clamp_min(0.0).pow(gamma)
