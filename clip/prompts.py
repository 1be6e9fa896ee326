"""Prompt and adapter modules that plug into the CLIP towers through explicit arguments.

Protocols (any object with these methods works; the classes below are the standard holders):

- deep prompt provider: ``block_tokens(i) -> Tensor[n, W] | None`` for transformer block ``i``
  (0-based); a tensor replaces the prompt positions before that block runs. Text: positions
  ``1..n`` (right after the start token). Vision: the prompt tokens' own positions.
- vision prompts additionally: ``shallow_tokens() -> Tensor[n, W] | None`` and ``placement``
  ("end": appended after the patches before ``ln_pre``; "after_cls": inserted after CLS after ``ln_pre``).
- block adapter: ``adapter(normed_tokens [B, L, W], layout) -> residual | None``, added to the attention
  output of its block; optional ``adapter.mlp_residual(hidden [B, L, 4W], layout) -> residual | None``,
  added to the MLP hidden activations before ``c_proj``. Pass ``{block_index: adapter}`` (or an
  ``nn.ModuleDict`` keyed by str(index)) as ``adapters=``.

Parameters are fp32 and cast to the tower dtype when inserted, so fp16 towers train fp32 prompts.
"""

from collections.abc import Callable

import torch
from torch import nn

from clip.layout import PROMPT_POSITIONS, TokenLayout, grid_to_tokens, tokens_to_grid

__all__ = [
    "CoupledVisionPrompts", "TextDeepPrompts", "TokenLayout", "VisionPromptLearner", "grid_to_tokens",
    "tokens_to_grid",
]


def _deep_list(n_tokens: int, width: int, count: int, init_std: float) -> nn.ParameterList:
    return nn.ParameterList([nn.Parameter(torch.randn(n_tokens, width) * init_std) for _ in range(count)])


def _given_tensors(initial, n_tokens: int, width: int, count: int, what: str) -> list[torch.Tensor]:
    """Check initial values handed to a prompt module: ``count`` tensors of shape [n_tokens, width]."""
    tensors = list(initial)
    if len(tensors) != count or any(tuple(t.shape) != (n_tokens, width) for t in tensors):
        shapes = [tuple(t.shape) for t in tensors]
        raise ValueError(f"{what}: expected {count} initial tensors of shape {(n_tokens, width)}, "
                         f"got {shapes}")
    return tensors


def _check_sizes(n_tokens: int, depth: int) -> None:
    if depth < 0:
        raise ValueError(f"prompt depth must be >= 0, got {depth}")
    if depth > 0 and n_tokens < 1:
        raise ValueError(f"a prompt depth of {depth} needs at least one token, got n_tokens={n_tokens}")


class TextDeepPrompts(nn.Module):
    """Deep text prompts: ``deep[k]`` [n, width] replaces positions 1..n before block ``k + 1``.

    ``depth`` counts the prompted layers including layer 0, whose prompts are the caller's context
    embeddings, so there are ``depth - 1`` deep tensors (depth 9 -> blocks 1..8). ``initial`` gives their
    starting values instead of drawing N(0, init_std^2). ``token_dtype``: see ``VisionPromptLearner``.
    """

    def __init__(self, n_tokens: int, width: int, depth: int, init_std: float = 0.02, initial=None,
                 token_dtype: torch.dtype | None = None):
        super().__init__()
        _check_sizes(n_tokens, depth)
        self.n_tokens, self.width, self.depth = n_tokens, width, depth
        self.token_dtype = token_dtype
        count = max(depth - 1, 0)
        if initial is None:
            self.deep = _deep_list(n_tokens, width, count, init_std)
        else:  # values drawn elsewhere (e.g. while CLIP was built, as upstream draws them)
            tensors = _given_tensors(initial, n_tokens, width, count, "TextDeepPrompts")
            self.deep = nn.ParameterList([nn.Parameter(t.detach().clone()) for t in tensors])

    def block_tokens(self, index: int) -> torch.Tensor | None:
        return self.deep[index - 1] if 1 <= index <= len(self.deep) else None

    def trainable_params(self) -> list[nn.Parameter]:
        return list(self.parameters())


class VisionPromptLearner(nn.Module):
    """Visual prompt tokens: ``shallow`` [n, width] enters before block 0, ``deep[k]`` replaces them
    before block ``k + 1`` (depth 9 -> blocks 1..8). Depth 0 means no prompts at all.

    ``placement`` "end" is the IVLP / MaPLe / PromptSRC layout; "after_cls" with ``dropout`` is DAPT's.
    Parameters start as N(0, init_std^2), or as ``initial`` ([shallow, deep...]) when given.
    ``token_dtype`` (e.g. ``torch.float16``): the towers pass the tokens, once repeated over the batch,
    through this dtype before their own, as upstream's IVLP-design CLIPs cast their expanded prompts with
    ``.half()`` even in fp32 runs (so the batch's gradients are also summed in that dtype).
    """

    def __init__(self, n_tokens: int, width: int, depth: int, init_std: float = 0.02, placement: str = "end",
                 dropout: float = 0.0, initial=None, token_dtype: torch.dtype | None = None):
        super().__init__()
        _check_sizes(n_tokens, depth)
        if placement not in PROMPT_POSITIONS:
            raise ValueError(f"placement must be one of {PROMPT_POSITIONS}, got {placement!r}")
        self.n_tokens, self.width, self.depth, self.placement = n_tokens, width, depth, placement
        self.token_dtype = token_dtype
        if initial is None:
            self.shallow = nn.Parameter(torch.randn(n_tokens, width) * init_std) if depth > 0 else None
            self.deep = _deep_list(n_tokens, width, max(depth - 1, 0), init_std)
        else:  # values drawn elsewhere: [shallow, deep 1, ..., deep depth-1]
            tensors = _given_tensors(initial, n_tokens, width, depth, "VisionPromptLearner")
            self.shallow = nn.Parameter(tensors[0].detach().clone()) if depth > 0 else None
            self.deep = nn.ParameterList([nn.Parameter(t.detach().clone()) for t in tensors[1:]])
        self.dropout = nn.Dropout(dropout)

    def shallow_tokens(self) -> torch.Tensor | None:
        return None if self.shallow is None else self.dropout(self.shallow)

    def block_tokens(self, index: int) -> torch.Tensor | None:
        return self.deep[index - 1] if 1 <= index <= len(self.deep) else None

    def trainable_params(self) -> list[nn.Parameter]:
        return list(self.parameters())


class CoupledVisionPrompts(nn.Module):
    """MaPLe-style vision prompts computed from text prompts by per-layer linear maps.

    ``shallow_source`` returns the text context [n, text_width] (e.g. ``lambda: learner.ctx``) that
    ``shallow_proj`` maps to the shallow vision tokens; ``deep_proj[k]`` maps ``text_prompts.deep[k]``
    to the vision tokens of block ``k + 1``. Only the projections belong to this module.
    """

    placement = "end"

    def __init__(self, text_prompts: TextDeepPrompts, text_width: int, vision_width: int,
                 shallow_source: Callable[[], torch.Tensor] | None = None):
        super().__init__()
        self._text = [text_prompts]  # a list, so the text prompts are not registered twice
        self._shallow_source = shallow_source
        self.depth = text_prompts.depth
        self.shallow_proj = nn.Linear(text_width, vision_width) if shallow_source is not None else None
        self.deep_proj = nn.ModuleList(nn.Linear(text_width, vision_width) for _ in text_prompts.deep)

    def shallow_tokens(self) -> torch.Tensor | None:
        if self._shallow_source is None:
            return None
        ctx = self._shallow_source()
        return self.shallow_proj(ctx.to(self.shallow_proj.weight.dtype))

    def block_tokens(self, index: int) -> torch.Tensor | None:
        tokens = self._text[0].block_tokens(index)
        if tokens is None:
            return None
        proj = self.deep_proj[index - 1]
        return proj(tokens.to(proj.weight.dtype))

    def trainable_params(self) -> list[nn.Parameter]:
        return list(self.parameters())
