"""Encode class prompts with a frozen CLIP text tower, once per class set.

Zero-shot weights, KgCoOp anchors, ProGrad's teacher, PromptSRC's fixed embeddings and CaPT's TCI are
all "fill templates with class names, encode, pool over templates"; this is that, in one place.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

import clip


def fill(template: str, classname: str) -> str:
    """Insert a class name (``_`` -> space, as every CoOp-family repository does)."""
    return template.format(classname.replace("_", " "))


@torch.no_grad()
def encode_class_texts(clip_model, templates: str | Sequence[str], classnames: Sequence[str],
                       device=None, normalize_each: bool = True, normalize: bool = True) -> torch.Tensor:
    """Text features ``[C, D]`` (fp32) of ``classnames`` averaged over ``templates``.

    Args:
        normalize_each: L2-normalise each template's features before averaging (CLIP's zero-shot
            ensembles); ``False`` averages raw features (PromptSRC's fixed embeddings).
        normalize: L2-normalise the average.
    """
    templates = [templates] if isinstance(templates, str) else list(templates)
    if not templates or not classnames:
        raise ValueError("encode_class_texts needs at least one template and one class name")
    device = device if device is not None else next(clip_model.parameters()).device
    total = None
    for template in templates:
        tokens = clip.tokenize([fill(template, name) for name in classnames],
                               context_length=clip_model.context_length).to(device)
        feats = clip_model.encode_text(tokens).float()
        if normalize_each:
            feats = F.normalize(feats, dim=-1)
        total = feats if total is None else total + feats
    mean = total / len(templates)
    return F.normalize(mean, dim=-1) if normalize else mean
