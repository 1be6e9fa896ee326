"""CaPT's similarity-aware margin on the image-text logits (a relaxing margin, not label smoothing).

For a sample of class ``y`` and smoothing ``s`` over ``C`` classes, with a fixed class-similarity matrix
``S`` (cosine similarity of the raw TCI vectors, or all ones)::

    M[j]  = s * S[y, j] / (C - 1)          for j != y
    M[y]  = -sum_{j != y} M[j]
    p'[j] = p[j] - 100 * M[j]              (p are 100-scaled cosine logits)
    loss  = CE(p', y)

Non-target classes that read like the true class get their logit lowered the most and the target logit is
raised by the same total, so the loss stops pushing hard on classes whose names are close. ``s = 0`` is
exactly ``F.cross_entropy``. The factor 100 is fixed by the method, not the model's logit scale.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LOGIT_SCALE = 100.0


def class_similarity(class_vectors: torch.Tensor) -> torch.Tensor:
    """Cosine similarity [C, C] of the (un-normalised) class vectors, computed in fp32."""
    if class_vectors.dim() != 2:
        raise ValueError(f"class vectors must be [C, D], got shape {tuple(class_vectors.shape)}")
    v = class_vectors.detach().float()
    return F.cosine_similarity(v.unsqueeze(1), v.unsqueeze(0), dim=-1)


def margin_offsets(labels: torch.Tensor, num_classes: int, smoothing: float,
                   similarity: torch.Tensor | None = None) -> torch.Tensor:
    """The margin ``M`` [B, C] (no gradient) for integer labels [B]."""
    if num_classes < 2:
        raise ValueError(f"the margin needs at least 2 classes, got {num_classes}")
    if similarity is None:
        rows = torch.ones(labels.shape[0], num_classes, device=labels.device)
    else:
        if similarity.shape != (num_classes, num_classes):
            raise ValueError(f"similarity must be [{num_classes}, {num_classes}], "
                             f"got {tuple(similarity.shape)}")
        rows = similarity.to(labels.device).float()[labels]
    margin = rows * (smoothing / (num_classes - 1))
    target = F.one_hot(labels, num_classes).bool()
    margin = margin.masked_fill(target, 0.0)
    return torch.where(target, -margin.sum(dim=1, keepdim=True), margin)


def margin_logits(logits: torch.Tensor, labels: torch.Tensor, smoothing: float,
                  similarity: torch.Tensor | None = None) -> torch.Tensor:
    """``p - 100 * M`` in fp32: the logits the margin loss feeds to the cross-entropy.

    Always fp32, whatever the logits' dtype: the non-target margins (about 0.005 with the published
    smoothing) are below half an fp16 ulp at logits of 16-32 and would round away in fp16 or bf16.
    """
    if logits.dim() != 2:
        raise ValueError(f"logits must be [B, C], got shape {tuple(logits.shape)}")
    with torch.no_grad():
        margin = margin_offsets(labels, logits.shape[1], smoothing, similarity)
    return logits.float() - LOGIT_SCALE * margin


class MarginLoss(nn.Module):
    """Cross-entropy on margin-adjusted logits (see the module docstring).

    ``similarity`` is a plain attribute, not a buffer: it belongs to the current class list and is never
    saved in a checkpoint.
    """

    def __init__(self, num_classes: int, similarity: torch.Tensor | None = None, smoothing: float = 0.0031):
        super().__init__()
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"TRAINER.UCP.LOSS.SMOOTH must be in [0, 1), got {smoothing}")
        self.num_classes = num_classes
        self.smoothing = float(smoothing)
        self.similarity = None if similarity is None else similarity.detach().float()

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if logits.shape[1] != self.num_classes:
            raise ValueError(f"MarginLoss built for {self.num_classes} classes got logits over "
                             f"{logits.shape[1]}")
        if self.smoothing == 0.0:
            return F.cross_entropy(logits.float(), labels)
        return F.cross_entropy(margin_logits(logits, labels, self.smoothing, self.similarity), labels)

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, smoothing={self.smoothing}"
