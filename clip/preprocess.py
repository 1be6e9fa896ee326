"""Image normalisation statistics that belong to a set of weights, and the evaluation transform using them.

A CLIP was pretrained on images normalised with particular per-channel mean and std; feeding it images
normalised otherwise shifts every feature. So the statistics travel with the weights: OpenAI's for
OpenAI's models, and for any other file the ``preprocess`` entry of its record, the JSON file beside it
(``ToyViT-S.pt`` -> ``ToyViT-S.json``, written by ``tools.toy_world.pretrain``)::

    "preprocess": {"mean": [0.48, 0.46, 0.41], "std": [0.27, 0.26, 0.28]}

A file without a record (or a record without the entry) is taken to be OpenAI's or fine-tuned from it.
"""

from __future__ import annotations

import json
import os
from typing import NamedTuple

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
RECORD_KEY = "preprocess"


class PixelStats(NamedTuple):
    """Per-channel (RGB) mean and std of the images the weights were trained on."""

    mean: tuple[float, ...]
    std: tuple[float, ...]


OPENAI = PixelStats(OPENAI_MEAN, OPENAI_STD)


def record_path(weights_path: str) -> str:
    """The record beside a weights file: same name, ``.json``."""
    return os.path.splitext(weights_path)[0] + ".json"


def _channels(value, where: str, positive: bool) -> tuple[float, ...]:
    ok = (isinstance(value, list) and len(value) == 3
          and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value))
    if not ok or (positive and min(value) <= 0):
        need = "3 positive numbers" if positive else "3 numbers"
        raise ValueError(f"{where} must be a list of {need} (R, G, B), got {value!r}")
    return tuple(float(v) for v in value)


def stats_from_record(path: str) -> PixelStats | None:
    """The ``preprocess`` statistics of the record at ``path``; None when there is no record or no entry."""
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            record = json.load(f)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: the weights record is not valid JSON ({err})") from err
    entry = record.get(RECORD_KEY) if isinstance(record, dict) else None
    if entry is None:
        return None
    if not isinstance(entry, dict):
        raise ValueError(f"{path}: {RECORD_KEY!r} must be an object with 'mean' and 'std', got {entry!r}")
    return PixelStats(_channels(entry.get("mean"), f"{path}: {RECORD_KEY}.mean", positive=False),
                      _channels(entry.get("std"), f"{path}: {RECORD_KEY}.std", positive=True))


def record_entry(stats: PixelStats) -> dict:
    """What a weights record stores under ``preprocess`` (read back by :func:`stats_from_record`)."""
    return {"mean": list(stats.mean), "std": list(stats.std)}


def to_rgb(image):
    """PIL image -> RGB (a named function so that the transform pickles into data-loader workers)."""
    return image.convert("RGB")


def build_preprocess(resolution: int, stats: PixelStats = OPENAI):
    """OpenAI's evaluation transform: bicubic resize, centre crop, RGB, tensor, the weights' mean/std."""
    from torchvision.transforms import CenterCrop, Compose, InterpolationMode, Normalize, Resize, ToTensor

    return Compose([
        Resize(resolution, interpolation=InterpolationMode.BICUBIC),
        CenterCrop(resolution),
        to_rgb,
        ToTensor(),
        Normalize(stats.mean, stats.std),
    ])
