"""Finding and reading the raw Fashion-MNIST files (IDX format, optionally gzip-compressed).

Two sources are supported, tried in this order:

1. a directory given explicitly (``--source``) or through ``FASHION_MNIST_DIR``;
2. the Debian/Ubuntu package ``dataset-fashion-mnist`` (installs into ``DEBIAN_DIR``);
3. torchvision's copy under ``<root>/FashionMNIST/raw`` (downloaded there when ``download=True`` and the
   machine is online).

Nothing else is downloaded; when no source works the error says what to install or run.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
ENV_VAR = "FASHION_MNIST_DIR"

# File stems of the four IDX files, per official split.
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
NUM_IMAGES = {"train": 60000, "test": 10000}

_IDX_MAGIC_IMAGES = 0x00000803  # unsigned byte, 3 dimensions
_IDX_MAGIC_LABELS = 0x00000801  # unsigned byte, 1 dimension


@dataclass
class FashionMNIST:
    """The official splits as arrays: images ``uint8 [N, 28, 28]``, labels ``int64 [N]``."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str  # human-readable description of where the files came from


def _open(path: Path) -> bytes:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        return f.read()


def _find_file(directory: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (directory / name).is_file():
            return directory / name
    return None


def read_idx(path: Path, expected_magic: int) -> np.ndarray:
    """Parse one IDX file (big-endian header: magic, then one uint32 per dimension, then the bytes)."""
    data = _open(path)
    if len(data) < 8:
        raise ValueError(f"{path}: too short to be an IDX file ({len(data)} bytes)")
    magic = int.from_bytes(data[0:4], "big")
    if magic != expected_magic:
        raise ValueError(f"{path}: IDX magic number {magic:#010x}, expected {expected_magic:#010x}")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        raise ValueError(f"{path}: {len(data)} bytes, expected {expected} for shape {shape}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def files_in(directory: Path) -> dict[str, tuple[Path, Path]] | None:
    """The four IDX files of ``directory`` (gzip or not), or ``None`` if any is missing."""
    found = {}
    for split, (images_stem, labels_stem) in FILES.items():
        images, labels = _find_file(directory, images_stem), _find_file(directory, labels_stem)
        if images is None or labels is None:
            return None
        found[split] = (images, labels)
    return found


def read_dir(directory: Path) -> FashionMNIST:
    """Read the four IDX files of ``directory`` and check their sizes and label range."""
    found = files_in(directory)
    if found is None:
        raise FileNotFoundError(f"{directory}: missing some of the Fashion-MNIST IDX files {FILES}")
    arrays = {}
    for split, (images_path, labels_path) in found.items():
        images = read_idx(images_path, _IDX_MAGIC_IMAGES)
        labels = read_idx(labels_path, _IDX_MAGIC_LABELS).astype(np.int64)
        if images.shape != (NUM_IMAGES[split], 28, 28) or labels.shape != (NUM_IMAGES[split],):
            raise ValueError(
                f"{directory}: {split} split has images {images.shape} and labels {labels.shape}, "
                f"expected ({NUM_IMAGES[split]}, 28, 28) and ({NUM_IMAGES[split]},)"
            )
        if labels.min() < 0 or labels.max() > 9:
            raise ValueError(f"{labels_path}: labels outside 0..9")
        arrays[split] = (images, labels)
    return FashionMNIST(*arrays["train"], *arrays["test"], source=str(directory))


def _torchvision_raw_dir(root: Path) -> Path:
    return root / "FashionMNIST" / "raw"


def _try_torchvision_download(root: Path) -> str | None:
    """Download through torchvision into ``<root>/FashionMNIST/raw``; returns an error text on failure."""
    try:
        from torchvision.datasets import FashionMNIST as TorchvisionFashionMNIST
    except ImportError as e:  # pragma: no cover - torchvision is a requirement
        return f"torchvision is not importable ({e})"
    try:
        for train in (True, False):
            TorchvisionFashionMNIST(str(root), train=train, download=True)
    except Exception as e:  # network errors come in many types
        return f"torchvision download failed: {type(e).__name__}: {e}"
    return None


def load(
    root: str | os.PathLike, source: str | os.PathLike | None = None, download: bool = True
) -> FashionMNIST:
    """Locate and read Fashion-MNIST.

    Args:
        root: the data root; torchvision's copy is looked for (and downloaded) under
            ``<root>/FashionMNIST/raw``.
        source: a directory holding the four IDX files; when given, no other place is tried.
        download: allow the torchvision download as the last resort.
    """
    root = Path(root)
    if source is not None:
        return read_dir(Path(source))
    env = os.environ.get(ENV_VAR)
    if env:
        return read_dir(Path(env))
    for directory in (DEBIAN_DIR, _torchvision_raw_dir(root)):
        if files_in(directory) is not None:
            return read_dir(directory)
    problem = "download not allowed"
    if download:
        problem = _try_torchvision_download(root)
        if problem is None and files_in(_torchvision_raw_dir(root)) is not None:
            return read_dir(_torchvision_raw_dir(root))
    raise FileNotFoundError(
        "Fashion-MNIST was not found. Do one of:\n"
        "  * install the Debian/Ubuntu package:  sudo apt-get install dataset-fashion-mnist\n"
        f"    (it provides {DEBIAN_DIR}/{{train,t10k}}-{{images-idx3,labels-idx1}}-ubyte.gz);\n"
        "  * run once on a machine with internet so torchvision downloads it into "
        f"{_torchvision_raw_dir(root)};\n"
        f"  * pass --source DIR (or set {ENV_VAR}=DIR) for a directory holding those four files.\n"
        f"Last attempt: {problem}"
    )
