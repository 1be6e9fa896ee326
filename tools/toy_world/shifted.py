"""Derive shifted copies of the toy downstream dataset: Fashion-MNIST as edge maps and with inverted greys.

Why they exist: the toy CLIPs are pretrained on Fashion-MNIST pool images captioned with the same ten class
names, so on ``fashion_mnist`` zero-shot CLIP already classifies as well as few-shot prompt tuning can, and
every method ends within noise of it. A shifted copy keeps the classes, the split and the prompts but moves
the images away from what the encoders saw, which is the situation prompt tuning is made for:

* ``edges`` (``FashionMNISTEdges``): the outline of each garment (Pillow's 3x3 ``FIND_EDGES`` filter), a
  sketch-like domain; zero-shot ToyViT-S keeps about half of the images right and prompts can win some back.
* ``inverted`` (``FashionMNISTInverted``): ``255 - pixel``, dark garments on a light background; zero-shot
  accuracy falls close to chance, and only prompts in the image encoder recover much.

Layout (``<root>/<folder>/``)::

    images/<class_folder>/{train,test}_<index>.png    fashion_mnist's downstream images, transformed
    split_zhou_<DatasetName>.json                     the same entries as fashion_mnist's split file
    prepared.json                                     marker: the transform and the preparation it came from

The pretraining pool is not copied. Each folder is written into a temporary sibling and renamed into place;
it is derived again when ``fashion_mnist`` was prepared with a different configuration.

Run: ``python -m tools.toy_world.shifted [--root DATA] [--only edges] [--force]`` (``build`` runs it).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

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

FORMAT_VERSION = 1
NATIVE_RESOLUTION = 28
_CHUNK = 2500


def invert(images: np.ndarray) -> np.ndarray:
    """``255 - x`` of ``uint8 [N, H, W]`` grey levels."""
    _check_uint8(images)
    return np.subtract(255, images, dtype=np.uint8)


def edges(images: np.ndarray) -> np.ndarray:
    """Pillow's ``FIND_EDGES`` (3x3 kernel: 8 at the centre, -1 around it, clipped to 0..255) per image."""
    _check_uint8(images)
    out = np.empty_like(images)
    for k, image in enumerate(images):
        out[k] = np.asarray(Image.fromarray(image).filter(ImageFilter.FIND_EDGES))
    return out


def _check_uint8(images: np.ndarray) -> None:
    if images.dtype != np.uint8 or images.ndim != 3:
        raise TypeError(f"expected uint8 grey levels of shape [N, H, W], got {images.dtype} {images.shape}")


@dataclass(frozen=True)
class Shift:
    folder: str  # under the data root
    dataset: str  # the registered DATASET.NAME, which also names the split file
    transform: Callable[[np.ndarray], np.ndarray]

    @property
    def split_file(self) -> str:
        return f"split_zhou_{self.dataset}.json"


SHIFTS = {
    "edges": Shift("fashion_mnist_edges", "FashionMNISTEdges", edges),
    "inverted": Shift("fashion_mnist_inverted", "FashionMNISTInverted", invert),
}


def shifted_dir(root: str | os.PathLike, name: str) -> Path:
    return Path(root).expanduser().absolute() / _shift(name).folder


def _shift(name: str) -> Shift:
    if name not in SHIFTS:
        raise KeyError(f"unknown shift {name!r}; expected one of {sorted(SHIFTS)}")
    return SHIFTS[name]


def _expected_marker(name: str, source_marker: dict) -> dict:
    derived_from = {"format": source_marker.get("format"), "config": source_marker.get("config")}
    return {"format": FORMAT_VERSION, "shift": name, "derived_from": derived_from}


def is_current(root: str | os.PathLike, name: str) -> bool:
    """True if the shifted folder exists and was derived from the ``fashion_mnist`` preparation now there."""
    source_marker = read_marker(dataset_dir(root))
    marker = read_marker(shifted_dir(root, name))
    if source_marker is None or marker is None:
        return False
    expected = _expected_marker(name, source_marker)
    return {key: marker.get(key) for key in expected} == expected


def prepare_shifted(
    root: str | os.PathLike = "DATA", name: str = "edges", force: bool = False, workers: int = 2,
    verbose: bool = True,
) -> Path:  # fmt: skip
    """Write the ``name`` shift of the prepared ``<root>/fashion_mnist``; returns its folder.

    Nothing is written when it is already derived from the current preparation (unless ``force``). A folder
    holding files but no marker of ours is never replaced without ``force``.
    """
    shift = _shift(name)
    log = print if verbose else (lambda *a, **k: None)
    source, target = dataset_dir(root), shifted_dir(root, name)
    source_marker = read_marker(source)
    if source_marker is None:
        raise FileNotFoundError(
            f"{source / MARKER_FILE} not found: the {shift.dataset} dataset is derived from the prepared "
            "Fashion-MNIST. Run `python -m tools.toy_world.build` (or `python -m tools.toy_world.prepare`) "
            "first."
        )
    if not force:
        if is_current(root, name):
            log(f"{shift.dataset} already prepared in {target}")
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
    shifted = shift.transform(images.numpy())

    partial = new_partial_dir(target)
    for folder in CLASS_FOLDERS:
        (partial / IMAGE_DIR / folder).mkdir(parents=True)
    names = [entry[0] for entry in entries]
    jobs = [(names[i : i + _CHUNK], shifted[i : i + _CHUNK]) for i in range(0, len(names), _CHUNK)]
    progress = progress_bar(len(names), f"Writing {len(names)} {name} images", verbose)
    try:
        write_images(partial / IMAGE_DIR, jobs, workers, progress.update)
    finally:
        progress.close()
    write_json(split, partial / shift.split_file)
    counts = {part: len(split[part]) for part in ("train", "val", "test")}
    write_json({**_expected_marker(name, source_marker), "counts": counts}, partial / MARKER_FILE)
    swap_into_place(partial, target)
    log(f"Prepared {shift.dataset} in {target} ({counts}) in {time.time() - start:.1f}s")
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="DATA", help="data root holding fashion_mnist/ (default DATA)")
    names = sorted(SHIFTS)
    parser.add_argument("--only", nargs="+", choices=names, default=names, help="shifts (default: all)")
    parser.add_argument("--force", action="store_true", help="derive again even if up to date")
    parser.add_argument("--workers", type=int, default=2, help="processes reading/writing PNGs (default 2)")
    args = parser.parse_args(argv)
    for name in args.only:
        prepare_shifted(args.root, name, force=args.force, workers=args.workers)


if __name__ == "__main__":
    main()
