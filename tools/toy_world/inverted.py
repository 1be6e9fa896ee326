"""Derive Fashion-MNIST with inverted grey levels: the toy downstream dataset that leaves room to learn.

Why it exists: the toy CLIPs are pretrained on Fashion-MNIST pool images captioned with the same ten class
names, so on ``fashion_mnist`` zero-shot CLIP already classifies as well as few-shot prompt tuning can, and
every method ends within noise of it. Inverting the grey levels (``255 - pixel``: dark garments on a light
background) keeps the classes, the split and the prompts but moves the images away from what the encoders
saw, which is the situation prompt tuning is made for (zero-shot accuracy drops to about a quarter).

Layout (``<root>/fashion_mnist_inverted/``), read by the ``FashionMNISTInverted`` dataset::

    images/<class_folder>/{train,test}_<index>.png    fashion_mnist's downstream images, inverted
    split_zhou_FashionMNISTInverted.json              the same entries as fashion_mnist's split file
    prepared.json                                     marker: the preparation it was derived from

The pretraining pool is not copied. The folder is written into a temporary sibling and renamed into place;
it is re-derived when ``fashion_mnist`` was prepared with a different configuration.

Run: ``python -m tools.toy_world.inverted [--root DATA] [--force]`` (``tools.toy_world.build`` runs it).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from tools.toy_world import data as toy_data
from tools.toy_world.prepare import (
    CLASS_FOLDERS,
    IMAGE_DIR,
    MARKER_FILE,
    SPLIT_FILE,
    dataset_dir,
    new_partial_dir,
    progress_bar,
    read_marker,
    swap_into_place,
    write_images,
    write_json,
)

INVERTED_DIR = "fashion_mnist_inverted"
INVERTED_SPLIT_FILE = "split_zhou_FashionMNISTInverted.json"
FORMAT_VERSION = 1
NATIVE_RESOLUTION = 28
_CHUNK = 2500


def inverted_dir(root: str | os.PathLike) -> Path:
    return Path(root).expanduser().absolute() / INVERTED_DIR


def invert(images: np.ndarray) -> np.ndarray:
    """``255 - x`` of ``uint8`` grey levels."""
    if images.dtype != np.uint8:
        raise TypeError(f"expected uint8 grey levels, got {images.dtype}")
    return np.subtract(255, images, dtype=np.uint8)


def _derived_from(source_marker: dict) -> dict:
    return {"format": source_marker.get("format"), "config": source_marker.get("config")}


def is_current(root: str | os.PathLike) -> bool:
    """True if the inverted folder exists and was derived from the ``fashion_mnist`` preparation now there."""
    source_marker = read_marker(dataset_dir(root))
    marker = read_marker(inverted_dir(root))
    if source_marker is None or marker is None:
        return False
    derived_from = _derived_from(source_marker)
    return marker.get("format") == FORMAT_VERSION and marker.get("derived_from") == derived_from


def prepare_inverted(
    root: str | os.PathLike = "DATA", force: bool = False, workers: int = 2, verbose: bool = True
) -> Path:
    """Write ``<root>/fashion_mnist_inverted`` from the prepared ``<root>/fashion_mnist``; returns its path.

    Nothing is written when it is already derived from the current preparation (unless ``force``). A folder
    holding files but no marker of ours is never replaced without ``force``.
    """
    log = print if verbose else (lambda *a, **k: None)
    source, target = dataset_dir(root), inverted_dir(root)
    source_marker = read_marker(source)
    if source_marker is None:
        raise FileNotFoundError(
            f"{source / MARKER_FILE} not found: the inverted dataset is derived from the prepared "
            "Fashion-MNIST. Run `python -m tools.toy_world.build` (or `python -m tools.toy_world.prepare`) "
            "first."
        )
    if not force:
        if is_current(root):
            log(f"Inverted Fashion-MNIST already prepared in {target}")
            return target
        if read_marker(target) is None and target.exists() and any(p.is_file() for p in target.rglob("*")):
            raise FileExistsError(
                f"{target} exists and holds files but no {MARKER_FILE}; move it away or re-run with --force"
            )

    start = time.time()
    with open(source / SPLIT_FILE) as f:
        split = json.load(f)
    entries = [entry for part in ("train", "val", "test") for entry in split[part]]
    images, _ = toy_data.load_images(source, entries, NATIVE_RESOLUTION, workers)
    inverted = invert(images.numpy())

    partial = new_partial_dir(target)
    for folder in CLASS_FOLDERS:
        (partial / IMAGE_DIR / folder).mkdir(parents=True)
    names = [entry[0] for entry in entries]
    jobs = [(names[i : i + _CHUNK], inverted[i : i + _CHUNK]) for i in range(0, len(names), _CHUNK)]
    progress = progress_bar(len(names), f"Writing {len(names)} inverted images", verbose)
    try:
        write_images(partial / IMAGE_DIR, jobs, workers, progress.update)
    finally:
        progress.close()
    write_json(split, partial / INVERTED_SPLIT_FILE)
    counts = {part: len(split[part]) for part in ("train", "val", "test")}
    marker = {"format": FORMAT_VERSION, "derived_from": _derived_from(source_marker), "counts": counts}
    write_json(marker, partial / MARKER_FILE)
    swap_into_place(partial, target)
    log(f"Prepared inverted Fashion-MNIST in {target} ({counts}) in {time.time() - start:.1f}s")
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="DATA", help="data root holding fashion_mnist/ (default DATA)")
    parser.add_argument("--force", action="store_true", help="re-derive even if up to date")
    parser.add_argument("--workers", type=int, default=2, help="processes reading/writing PNGs (default 2)")
    args = parser.parse_args(argv)
    prepare_inverted(args.root, force=args.force, workers=args.workers)


if __name__ == "__main__":
    main()
