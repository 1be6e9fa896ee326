"""Text features of class names through a frozen CLIP: the one encoder of fixed class texts.

Zero-shot weights, KgCoOp / ProGrad anchors, PromptSRC's template ensemble, CaPT's TCI vectors and CAPT's
teacher sentences are all "fill templates with class names (or take ready sentences), tokenize, encode
without gradients, pool over templates". Each caller picks how features are normalised, so the numbers
each method publishes are kept.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from clip.model import l2_normalize
from clip.tokenizer import tokenize

# Texts per forward pass: bounds memory for large class lists x template ensembles (ImageNet x 60).
BATCH_SIZE = 1000


def fill(template: str, classname: str) -> str:
    """Insert a class name the way every CoOp-family trainer does (underscores become spaces)."""
    return template.format(classname.replace("_", " "))


def model_device(clip_model) -> torch.device:
    """The device holding ``clip_model``'s weights."""
    return clip_model.token_embedding.weight.device


@torch.no_grad()
def encode_texts(clip_model, texts: Sequence[str], device=None, truncate: bool = False,
                 batch_size: int = BATCH_SIZE) -> torch.Tensor:
    """Features ``[N, D]`` (fp32, not normalised) of ready sentences, ``batch_size`` texts per pass.

    Tokens use the model's own context length; ``truncate`` cuts over-long sentences (else they raise).
    """
    if not texts:
        raise ValueError("encode_texts needs at least one text")
    tokens = tokenize(list(texts), context_length=clip_model.context_length, truncate=truncate)
    return _encode_tokens(clip_model, tokens, device, batch_size)


def _encode_tokens(clip_model, tokens: torch.Tensor, device, batch_size: int) -> torch.Tensor:
    device = device if device is not None else model_device(clip_model)
    return torch.cat([clip_model.encode_text(tokens[i : i + batch_size].to(device)).float()
                      for i in range(0, len(tokens), batch_size)])


def class_prompts(templates: Sequence[str], classnames: Sequence[str]) -> list[str]:
    """Every template filled with every class name, template-major (``T * C`` sentences)."""
    for template in templates:
        if "{}" not in template:
            raise ValueError(f"class-text template {template!r} has no '{{}}' slot for the class name")
    return [fill(template, name) for template in templates for name in classnames]


@torch.no_grad()
def encode_class_texts(clip_model, templates: str | Sequence[str], classnames: Sequence[str], device=None,
                       normalize_each: bool = True, normalize: bool = True,
                       batch_size: int = BATCH_SIZE) -> torch.Tensor:
    """Class text features ``[C, D]`` (fp32) of ``classnames``, averaged over ``templates``.

    Args:
        normalize_each: L2-normalise each template's features before averaging (CLIP's zero-shot
            ensembles); ``False`` averages the raw features (PromptSRC's targets, TCI vectors).
        normalize: L2-normalise the average (``False`` with one template: the raw features).
    """
    templates = [templates] if isinstance(templates, str) else list(templates)
    if not templates or not classnames:
        raise ValueError("encode_class_texts needs at least one template and one class name")
    # Tokenized together, encoded one template at a time as the original code does: a batch that mixes
    # templates rounds differently (up to ~1e-6 on CPU), which moves seeded runs off the original's numbers.
    tokens = tokenize(class_prompts(templates, classnames), context_length=clip_model.context_length)
    n = len(classnames)
    feats = torch.stack([_encode_tokens(clip_model, tokens[t * n : (t + 1) * n], device, batch_size)
                         for t in range(len(templates))])
    if normalize_each:
        feats = l2_normalize(feats)
    mean = feats.mean(dim=0)
    return l2_normalize(mean) if normalize else mean
