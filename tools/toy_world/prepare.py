"""Write Fashion-MNIST once under the data root, in the CoOp layout the ``FashionMNIST`` dataset reads.

Layout (``<root>/fashion_mnist/``)::

    images/<class_folder>/{train,test}_<official index>.png    28x28 greyscale PNGs
    split_zhou_FashionMNIST.json   {"train", "val", "test"}: [[relative_path, label, classname], ...]
    pretrain_pool.json             {"pool": [...]}: same entries, disjoint from the three splits
    prepared.json                  marker: the configuration and counts (written last)

The official training images are divided per class (seeded, stratified) into a pretraining pool for the toy
CLIPs and the downstream train / val splits, so the downstream dataset is never seen during pretraining;
the official test images are the downstream test split. The whole directory is written into a temporary
sibling and renamed into place, so an interrupted run leaves nothing half-written, and a second run with
the same configuration returns at once.

Run: ``python -m tools.toy_world.prepare [--root DATA] [--force]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from tools.toy_world import source as fmnist

DATASET_DIR = "fashion_mnist"
IMAGE_DIR = "images"
SPLIT_FILE = "split_zhou_FashionMNIST.json"
POOL_FILE = "pretrain_pool.json"
MARKER_FILE = "prepared.json"
FORMAT_VERSION = 1

# Official label order. Folder names are file-system friendly; class names are the plain words that go
# into the text prompts.
CLASS_FOLDERS = (
    "t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle_boot",
)  # fmt: skip
CLASSNAMES = tuple(folder.replace("_", " ") for folder in CLASS_FOLDERS)
IMAGES_PER_CLASS = {"train": 6000, "test": 1000}


@dataclass(frozen=True)
class PrepareConfig:
    """How the official splits are divided (all counts are per class).

    ``val_per_class=None`` takes every official training image left after the pool and the train split;
    ``test_per_class=None`` takes every official test image. Small values give a quick subset for tests.
    """

    seed: int = 1
    pool_per_class: int = 4800
    train_per_class: int = 800
    val_per_class: int | None = None
    test_per_class: int | None = None

    def validate(self) -> None:
        available = IMAGES_PER_CLASS["train"]
        used = self.pool_per_class + self.train_per_class + (self.val_per_class or 0)
        if min(self.pool_per_class, self.train_per_class) < 1:
            raise ValueError(f"pool_per_class and train_per_class must be >= 1, got {self}")
        if self.val_per_class is not None and self.val_per_class < 1:
            raise ValueError(f"val_per_class must be >= 1 or None, got {self.val_per_class}")
        if used > available or (self.val_per_class is None and used >= available):
            raise ValueError(
                f"pool ({self.pool_per_class}) + train ({self.train_per_class}) + val ({self.val_per_class}) "
                f"images per class exceed the {available} official training images per class"
            )
        if self.test_per_class is not None and not 1 <= self.test_per_class <= IMAGES_PER_CLASS["test"]:
            raise ValueError(f"test_per_class must be in 1..{IMAGES_PER_CLASS['test']} or None")


def dataset_dir(root: str | os.PathLike) -> Path:
    return Path(root).expanduser().absolute() / DATASET_DIR


def divide(labels: np.ndarray, config: PrepareConfig) -> dict[str, np.ndarray]:
    """Official training indices per part (``pool``, ``train``, ``val``), stratified and seeded.

    Each class's indices are permuted with a generator seeded by ``config.seed``; the first ones go to the
    pool, the next to train, the next (or all remaining) to val. Each part is returned sorted, so the order of
    the entries does not depend on the permutation.
    """
    rng = np.random.default_rng(config.seed)
    parts: dict[str, list[np.ndarray]] = {"pool": [], "train": [], "val": []}
    for label in range(len(CLASS_FOLDERS)):
        indices = rng.permutation(np.flatnonzero(labels == label))
        n_pool, n_train = config.pool_per_class, config.train_per_class
        n_val = len(indices) - n_pool - n_train if config.val_per_class is None else config.val_per_class
        parts["pool"].append(indices[:n_pool])
        parts["train"].append(indices[n_pool : n_pool + n_train])
        parts["val"].append(indices[n_pool + n_train : n_pool + n_train + n_val])
    return {name: np.sort(np.concatenate(chunks)) for name, chunks in parts.items()}


def select_test(labels: np.ndarray, config: PrepareConfig) -> np.ndarray:
    """Official test indices: all of them, or the first ``test_per_class`` of each class (seeded choice)."""
    if config.test_per_class is None:
        return np.arange(len(labels))
    rng = np.random.default_rng(config.seed + 1)
    chosen = [rng.permutation(np.flatnonzero(labels == c))[: config.test_per_class] for c in range(10)]
    return np.sort(np.concatenate(chosen))


def relative_path(split: str, index: int, label: int) -> str:
    """Image path relative to ``images/``; the official split and index make names unique."""
    return f"{CLASS_FOLDERS[label]}/{split}_{index:05d}.png"


def entries(split: str, indices: np.ndarray, labels: np.ndarray) -> list[list]:
    return [
        [relative_path(split, int(i), int(labels[i])), int(labels[i]), CLASSNAMES[labels[i]]] for i in indices
    ]


def _save_pngs(job: tuple[str, list[str], np.ndarray]) -> int:
    image_dir, names, images = job
    for name, pixels in zip(names, images):
        Image.fromarray(pixels).save(os.path.join(image_dir, name), compress_level=1)
    return len(names)


def write_images(image_dir: Path, jobs: list[tuple[list[str], np.ndarray]], workers: int, progress) -> None:
    """Save PNGs in chunks, in ``workers`` processes when the platform can fork (output is identical)."""
    tasks = [(str(image_dir), names, images) for names, images in jobs]
    if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for n in pool.imap(_save_pngs, tasks):
                progress(n)
    else:
        for task in tasks:
            progress(_save_pngs(task))


def write_json(obj, path: Path) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=4, separators=(",", ": "))


def read_marker(directory: Path) -> dict | None:
    path = directory / MARKER_FILE
    if not path.is_file():
        return None
    with open(path) as f:
        return json.load(f)


def is_prepared(root: str | os.PathLike, config: PrepareConfig | None = None) -> bool:
    """True if the layout exists and was written with ``config`` (any configuration when ``None``)."""
    marker = read_marker(dataset_dir(root))
    if marker is None or marker.get("format") != FORMAT_VERSION:
        return False
    return config is None or marker.get("config") == asdict(config)


def _holds_files(directory: Path) -> bool:
    return any(p.is_file() for p in directory.rglob("*"))


def _remove_stale_partials(root: Path, folder: str = DATASET_DIR) -> None:
    """Delete temporary ``folder`` directories left by interrupted runs whose process no longer exists."""
    for partial in root.glob(f".{folder}.partial-*"):
        try:
            pid = int(partial.name.rsplit("-", 1)[1])
            os.kill(pid, 0)
        except (ValueError, ProcessLookupError):
            shutil.rmtree(partial, ignore_errors=True)
        except PermissionError:  # the process exists but belongs to someone else
            pass


def prepare(
    root: str | os.PathLike = "DATA",
    config: PrepareConfig | None = None,
    force: bool = False,
    source: str | os.PathLike | None = None,
    download: bool = True,
    workers: int = 2,
    verbose: bool = True,
) -> Path:
    """Write the layout under ``root`` unless it is already there with the same configuration.

    Returns the dataset directory. An existing layout written with a different configuration, or a
    directory of unknown origin, is only replaced with ``force=True``.
    """
    config = config or PrepareConfig()
    config.validate()
    log = print if verbose else (lambda *a, **k: None)
    target = dataset_dir(root)
    marker = read_marker(target)
    if not force and marker is not None:
        if marker.get("format") == FORMAT_VERSION and marker.get("config") == asdict(config):
            log(f"Fashion-MNIST already prepared in {target}")
            return target
        raise FileExistsError(
            f"{target / MARKER_FILE} was written with {marker.get('config')} "
            f"(format {marker.get('format')}), not {asdict(config)} (format {FORMAT_VERSION}); "
            "re-run with --force to rebuild it"
        )
    if not force and target.exists() and _holds_files(target):
        raise FileExistsError(
            f"{target} exists and holds files but no {MARKER_FILE}; move it away or re-run with --force"
        )

    start = time.time()
    data = fmnist.load(Path(root).expanduser().absolute(), source=source, download=download)
    parts = divide(data.train_labels, config)
    test_indices = select_test(data.test_labels, config)
    split = {
        "train": entries("train", parts["train"], data.train_labels),
        "val": entries("train", parts["val"], data.train_labels),
        "test": entries("test", test_indices, data.test_labels),
    }
    pool = {"pool": entries("train", parts["pool"], data.train_labels)}

    partial = new_partial_dir(target)
    image_dir = partial / IMAGE_DIR
    for folder in CLASS_FOLDERS:
        (image_dir / folder).mkdir(parents=True)

    train_indices = np.sort(np.concatenate([parts["pool"], parts["train"], parts["val"]]))
    jobs = []
    for split_name, indices, images, labels in (
        ("train", train_indices, data.train_images, data.train_labels),
        ("test", test_indices, data.test_images, data.test_labels),
    ):
        for chunk in np.array_split(indices, max(1, len(indices) // 2500)):
            names = [relative_path(split_name, int(i), int(labels[i])) for i in chunk]
            jobs.append((names, images[chunk]))
    total = sum(len(names) for names, _ in jobs)
    progress = progress_bar(total, f"Writing {total} Fashion-MNIST images", verbose)
    try:
        write_images(image_dir, jobs, workers, progress.update)
    finally:
        progress.close()

    write_json(split, partial / SPLIT_FILE)
    write_json(pool, partial / POOL_FILE)
    counts = {name: len(items) for name, items in {**split, **pool}.items()}
    write_json(
        {"format": FORMAT_VERSION, "config": asdict(config), "source": data.source, "counts": counts},
        partial / MARKER_FILE,
    )
    swap_into_place(partial, target)
    log(f"Prepared Fashion-MNIST in {target} ({counts}) in {time.time() - start:.1f}s")
    return target


def new_partial_dir(target: Path) -> Path:
    """An empty temporary sibling of ``target`` to write into (stale ones of dead processes are removed)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(target.parent, target.name)
    partial = target.parent / f".{target.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    return partial


def swap_into_place(partial: Path, target: Path) -> None:
    """Rename the finished temporary directory to ``target``, replacing an old one if present."""
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(partial, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(total: int, desc: str, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="img", file=sys.stdout, mininterval=1.0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", default="DATA", help="data root (DATASET.ROOT); default: DATA")
    parser.add_argument("--force", action="store_true", help="rebuild even if already prepared")
    parser.add_argument("--source", default=None, help="directory with the four Fashion-MNIST IDX files")
    parser.add_argument("--no-download", action="store_true", help="never try the torchvision download")
    parser.add_argument("--workers", type=int, default=2, help="processes writing PNGs (default 2)")
    parser.add_argument("--seed", type=int, default=PrepareConfig.seed)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    prepare(
        args.root,
        PrepareConfig(seed=args.seed),
        force=args.force,
        source=args.source,
        download=not args.no_download,
        workers=args.workers,
    )


if __name__ == "__main__":
    main()
