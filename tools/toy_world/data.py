"""Reading the prepared images into memory the way the evaluation pipeline sees them.

The downstream loaders open each PNG as RGB, resize it bicubically to ``INPUT.SIZE`` and normalise with
the toy models' mean and std (``PIXEL_STATS``: OpenAI CLIP's, stored in each model's record). Resizing the
greyscale image and replicating it to three channels gives exactly the same tensor, so the pool is held as
``uint8 [N, R, R]`` (a quarter of the memory) and expanded per batch.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from clip.preprocess import OPENAI
from tools.toy_world.prepare import IMAGE_DIR, POOL_FILE, SPLIT_FILE

# The normalisation the toy models are pretrained with; written into their records (``preprocess``), from
# which every later run takes it.
PIXEL_STATS = OPENAI


def read_entries(dataset_dir: Path, part: str) -> list[list]:
    """Entries ``[relative_path, label, classname]`` of ``pool`` (pretraining) or ``train`` / ``val`` /
    ``test``."""
    path = dataset_dir / (POOL_FILE if part == "pool" else SPLIT_FILE)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; run `python -m tools.toy_world.prepare` first")
    with open(path) as f:
        content = json.load(f)
    if part not in content:
        raise KeyError(f"{path} has no key {part!r} (keys: {sorted(content)})")
    return content[part]


def _load_chunk(job: tuple[str, list[str], int]) -> np.ndarray:
    image_dir, names, resolution = job
    out = np.empty((len(names), resolution, resolution), dtype=np.uint8)
    for k, name in enumerate(names):
        with Image.open(os.path.join(image_dir, name)) as image:
            image = image.convert("L")
            if image.size != (resolution, resolution):
                image = image.resize((resolution, resolution), Image.Resampling.BICUBIC)
            out[k] = np.asarray(image)
    return out


def load_images(
    dataset_dir: Path, entries: list[list], resolution: int, workers: int = 2
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``uint8 [N, R, R]`` and labels ``int64 [N]`` of ``entries`` (order kept)."""
    image_dir = str(dataset_dir / IMAGE_DIR)
    names = [entry[0] for entry in entries]
    chunks = [names[i : i + 4000] for i in range(0, len(names), 4000)] or [[]]
    jobs = [(image_dir, chunk, resolution) for chunk in chunks]
    if workers > 1 and len(jobs) > 1 and "fork" in multiprocessing.get_all_start_methods():
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            arrays = pool.map(_load_chunk, jobs)
    else:
        arrays = [_load_chunk(job) for job in jobs]
    images = torch.from_numpy(np.concatenate(arrays))
    labels = torch.tensor([int(entry[1]) for entry in entries], dtype=torch.int64)
    return images, labels


def to_model_input(images: torch.Tensor) -> torch.Tensor:
    """``uint8 [B, R, R]`` -> normalised ``float [B, 3, R, R]`` (grey replicated to RGB)."""
    x = images.to(torch.float32).div_(255.0).unsqueeze(1).expand(-1, 3, -1, -1)
    mean = torch.tensor(PIXEL_STATS.mean).view(1, 3, 1, 1)
    std = torch.tensor(PIXEL_STATS.std).view(1, 3, 1, 1)
    return (x - mean) / std
