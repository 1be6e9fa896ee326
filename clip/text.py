"""The text path as named steps, written once and shared by ``CLIP`` and by trainers' text encoders.

embeddings [C, L, W] -> + positional_embedding -> transformer (optional deep prompts) -> ln_final
-> ``eot_pool`` -> @ text_projection. Learnable-context methods (CoOp, IVLP, ...) build the embeddings
themselves and call this path instead of copying a text encoder.
"""

import torch
from torch import nn

from clip.layers import causal_mask


def eot_pool(x: torch.Tensor, eot_indices: torch.Tensor) -> torch.Tensor:
    """Pick the row of each sequence at its end-of-text position: [C, L, W], [C] -> [C, W]."""
    return x[torch.arange(x.shape[0], device=x.device), eot_indices.to(x.device)]


def text_path(tower, embeddings: torch.Tensor, eot_indices: torch.Tensor, prompts=None,
              return_tokens: bool = False):
    """Run the text path of ``tower`` (anything with ``transformer``, ``positional_embedding``,
    ``ln_final``, ``text_projection``) on ready token embeddings.

    ``prompts`` gives deep text prompts: ``prompts.block_tokens(i)`` replaces positions ``1..n`` (right
    after the start token) before block ``i``. With ``return_tokens`` also returns the ``ln_final``
    outputs of every position [C, L, W] (not projected).
    """
    if embeddings.dim() != 3:
        raise ValueError(f"text embeddings must be [C, L, W], got shape {tuple(embeddings.shape)}")
    length = embeddings.shape[1]
    if length > tower.positional_embedding.shape[0]:
        raise ValueError(f"text sequence of length {length} exceeds the context length "
                         f"{tower.positional_embedding.shape[0]}")
    dtype = tower.text_projection.dtype
    x = embeddings.to(dtype) + tower.positional_embedding[:length].to(dtype)
    mask = causal_mask(length).to(device=x.device)
    x = tower.transformer(x, attn_mask=mask, deep_prompts=prompts, prompt_start=1)
    x = tower.ln_final(x)
    pooled = eot_pool(x, eot_indices) @ tower.text_projection
    return (pooled, x) if return_tokens else pooled


class TextEncoder(nn.Module):
    """The text tower of a CLIP model as its own module, sharing (not copying) the CLIP parameters.

    Its state-dict keys are ``transformer.*``, ``positional_embedding``, ``ln_final.*``,
    ``text_projection`` - the layout IVLP-family checkpoints use under ``text_encoder.``.
    """

    def __init__(self, clip_model):
        super().__init__()
        self.transformer = clip_model.transformer
        self.positional_embedding = clip_model.positional_embedding
        self.ln_final = clip_model.ln_final
        self.text_projection = clip_model.text_projection

    @property
    def dtype(self) -> torch.dtype:
        return self.text_projection.dtype

    def forward(self, embeddings: torch.Tensor, eot_indices: torch.Tensor, prompts=None,
                return_tokens: bool = False):
        return text_path(self, embeddings, eot_indices, prompts=prompts, return_tokens=return_tokens)
