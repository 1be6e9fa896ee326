"""Transformer building blocks shared by the image and text towers.

Parameter names follow OpenAI's CLIP (``attn.in_proj_weight``, ``mlp.c_fc`` ...) so that the released
state dicts load without renaming. Sequences are batch-first ``[B, L, W]`` everywhere in this package.
The two extension points of a block are explicit arguments: tokens that replace a slice of the sequence
before the block runs (deep prompts) and an adapter that adds residuals (see ``clip.prompts``).
"""

from collections import OrderedDict

import torch
from torch import nn

from clip.layout import TokenLayout, replace_tokens


class LayerNorm(nn.LayerNorm):
    """LayerNorm that always computes in fp32 and casts back, as OpenAI's half-precision models expect."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        orig = x.dtype
        out = nn.functional.layer_norm(
            x.float(), self.normalized_shape,
            None if self.weight is None else self.weight.float(),
            None if self.bias is None else self.bias.float(),
            self.eps,
        )
        return out.to(orig)


class QuickGELU(nn.Module):
    """The sigmoid approximation of GELU the OpenAI weights were trained with."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


def causal_mask(length: int) -> torch.Tensor:
    """Additive mask hiding future tokens (-inf above the diagonal)."""
    return torch.full((length, length), float("-inf")).triu_(1)


def _block_adapter(adapters, index: int):
    """Look up the adapter of block ``index`` in a dict (int keys) or an ``nn.ModuleDict`` (str keys)."""
    if adapters is None:
        return None
    if isinstance(adapters, nn.ModuleDict):
        key = str(index)
        return adapters[key] if key in adapters else None
    return adapters.get(index)


class ResidualAttentionBlock(nn.Module):
    """Pre-norm transformer block: ``x + attn(ln_1 x)`` then ``x + mlp(ln_2 x)``.

    An optional adapter adds ``adapter(ln_1 x, layout)`` next to the attention output and, if it has an
    ``mlp_residual`` method, adds ``adapter.mlp_residual(hidden, layout)`` to the MLP hidden activations
    (after ``c_fc`` and QuickGELU, before ``c_proj``). Either may return None for "nothing to add".
    """

    def __init__(self, width: int, heads: int):
        super().__init__()
        # Sequence-first, as OpenAI's blocks: torch's fused inference path (taken only for batch-first
        # modules, in eval mode without gradients) rounds differently, so frozen towers would not compute
        # the numbers the original code computes.
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(width, width * 4)),
            ("gelu", QuickGELU()),
            ("c_proj", nn.Linear(width * 4, width)),
        ]))
        self.ln_2 = LayerNorm(width)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None, adapter=None,
                layout: TokenLayout | None = None) -> torch.Tensor:
        # The norm reads the sequence-first view, so the attention gets a contiguous [L, B, W] tensor as in
        # OpenAI's blocks: half-precision matrix products on the CPU round differently for other layouts.
        h_seq = self.ln_1(x.transpose(0, 1))
        mask = None if attn_mask is None else attn_mask.to(dtype=x.dtype, device=x.device)
        out = self.attn(h_seq, h_seq, h_seq, need_weights=False, attn_mask=mask)[0].transpose(0, 1)
        if adapter is not None:
            residual = adapter(h_seq.transpose(0, 1).contiguous(), layout)
            if residual is not None:
                out = out + residual.to(out.dtype)
        x = x + out
        hidden = self.mlp.gelu(self.mlp.c_fc(self.ln_2(x)))
        mlp_hook = getattr(adapter, "mlp_residual", None)
        if mlp_hook is not None:
            residual = mlp_hook(hidden, layout)
            if residual is not None:
                hidden = hidden + residual.to(hidden.dtype)
        return x + self.mlp.c_proj(hidden)


class Transformer(nn.Module):
    """A stack of residual attention blocks with per-block prompt replacement and adapters.

    ``build_hook(tower, i, width)``, when given, is called right after block ``i`` is constructed (see
    ``clip.model.CLIP``). ``deep_prompts`` is any object with ``block_tokens(i) -> Tensor[n, W] | None``;
    a returned tensor replaces the ``n`` tokens starting at ``prompt_start`` (a non-negative index, or
    negative to count from the end) before block ``i`` runs. ``adapters`` maps block index to an
    adapter object.
    """

    def __init__(self, width: int, layers: int, heads: int, build_hook=None, tower: str = "text"):
        super().__init__()
        self.width = width
        self.layers = layers
        blocks = []
        for index in range(layers):
            blocks.append(ResidualAttentionBlock(width, heads))
            if build_hook is not None:
                build_hook(tower, index, width)
        self.resblocks = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None, deep_prompts=None,
                prompt_start: int = 1, adapters=None, layout: TokenLayout | None = None) -> torch.Tensor:
        depth = getattr(deep_prompts, "depth", 0)
        if depth > self.layers:
            raise ValueError(f"prompts of depth {depth} do not fit a transformer with {self.layers} blocks")
        via = getattr(deep_prompts, "token_dtype", None)
        for i, block in enumerate(self.resblocks):
            if deep_prompts is not None:
                tokens = deep_prompts.block_tokens(i)
                if tokens is not None:
                    x = replace_tokens(x, tokens, prompt_start, via=via)
            x = block(x, attn_mask=attn_mask, adapter=_block_adapter(adapters, i), layout=layout)
        return x
