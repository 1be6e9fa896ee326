"""Where things sit in a vision token sequence, and helpers to move between tokens and the patch grid.

Adapters that work on the spatial grid (e.g. a depthwise convolution) must skip the class token and any
prompt tokens; ``TokenLayout`` tells them where the patch tokens are, whichever prompt placement is used.
"""

from dataclasses import dataclass

import torch

PROMPT_POSITIONS = ("end", "after_cls")


@dataclass(frozen=True)
class TokenLayout:
    """Token order: ``[CLS, patches, prompts]`` ("end") or ``[CLS, prompts, patches]`` ("after_cls")."""

    num_prefix: int = 1
    grid: tuple[int, int] = (0, 0)
    num_prompts: int = 0
    prompt_position: str = "end"

    def __post_init__(self):
        if self.prompt_position not in PROMPT_POSITIONS:
            raise ValueError(
                f"prompt_position must be one of {PROMPT_POSITIONS}, got {self.prompt_position!r}")

    @property
    def num_patches(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def length(self) -> int:
        return self.num_prefix + self.num_patches + self.num_prompts

    @property
    def patch_start(self) -> int:
        if self.prompt_position == "after_cls":
            return self.num_prefix + self.num_prompts
        return self.num_prefix

    @property
    def patch_slice(self) -> slice:
        return slice(self.patch_start, self.patch_start + self.num_patches)

    @property
    def prompt_slice(self) -> slice:
        start = self.num_prefix if self.prompt_position == "after_cls" else self.num_prefix + self.num_patches
        return slice(start, start + self.num_prompts)


def _check_length(x: torch.Tensor, layout: TokenLayout) -> None:
    if x.shape[1] != layout.length:
        raise ValueError(
            f"token sequence has length {x.shape[1]} but the layout {layout} needs {layout.length}")


def tokens_to_grid(x: torch.Tensor, layout: TokenLayout) -> torch.Tensor:
    """Patch tokens of ``x`` [B, L, C] as an image-shaped tensor [B, C, h, w]."""
    _check_length(x, layout)
    h, w = layout.grid
    patches = x[:, layout.patch_slice]
    return patches.transpose(1, 2).reshape(x.shape[0], x.shape[2], h, w)


def grid_to_tokens(grid: torch.Tensor, layout: TokenLayout) -> torch.Tensor:
    """Scatter a [B, C, h, w] grid back to a full-length [B, L, C] residual, zero outside the patches."""
    b, c, h, w = grid.shape
    if (h, w) != tuple(layout.grid):
        raise ValueError(f"grid of size {(h, w)} does not match the layout grid {layout.grid}")
    patches = grid.reshape(b, c, h * w).transpose(1, 2)
    before = patches.new_zeros(b, layout.patch_start, c)
    after = patches.new_zeros(b, layout.length - layout.patch_slice.stop, c)
    return torch.cat([before, patches, after], dim=1)


def replace_tokens(x: torch.Tensor, tokens: torch.Tensor, start: int,
                   via: torch.dtype | None = None) -> torch.Tensor:
    """``x`` [B, L, W] with positions ``start .. start+n`` replaced by ``tokens`` [n, W] or [B, n, W].

    ``start`` may be negative to count from the end. Not in place, so autograd sees the prompt tokens.
    ``via``: a dtype the batch-expanded tokens pass through on their way to ``x``'s (see
    ``clip.prompts.VisionPromptLearner``'s ``token_dtype``).
    """
    length = x.shape[1]
    n = tokens.shape[-2]
    begin = start + length if start < 0 else start
    if begin < 0 or begin + n > length:
        raise ValueError(
            f"cannot place {n} prompt tokens at position {start} of a sequence of length {length}")
    return torch.cat([x[:, :begin], batch_tokens(tokens, x, via), x[:, begin + n:]], dim=1)


def batch_tokens(tokens: torch.Tensor, like: torch.Tensor, via: torch.dtype | None = None) -> torch.Tensor:
    """[n, W] (or [B, n, W]) prompt tokens as [B, n, W] in the dtype/device of ``like`` (through ``via``)."""
    if tokens.dim() == 2:
        tokens = tokens.unsqueeze(0).expand(like.shape[0], -1, -1)
    if via is not None:
        tokens = tokens.to(via)
    return tokens.to(dtype=like.dtype, device=like.device)
