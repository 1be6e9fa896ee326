"""Small file-system, JSON, image and seeding utilities."""

import difflib
import errno
import json
import logging
import os
import os.path as osp
import random
import sys
import warnings

import numpy as np
import PIL
import torch
from PIL import Image

from dassl.atomic_io import write_json_atomic, write_text_atomic  # re-exported: the public helpers

log = logging.getLogger(__name__)

__all__ = [
    "mkdir_if_missing",
    "check_isfile",
    "read_json",
    "write_json",
    "write_json_atomic",
    "write_text_atomic",
    "set_random_seed",
    "download_url",
    "read_image",
    "collect_env_info",
    "listdir_nohidden",
    "get_most_similar_str_to_a_from_b",
    "check_availability",
    "tolist_if_not",
]


def mkdir_if_missing(dirname):
    """Create ``dirname`` (and parents); concurrent creation is not an error."""
    if not dirname or osp.isdir(dirname):
        return
    try:
        os.makedirs(dirname)
    except OSError as e:
        if e.errno != errno.EEXIST:
            raise


def check_isfile(fpath):
    """Return whether ``fpath`` is a file, warning when it is not."""
    isfile = osp.isfile(fpath)
    if not isfile:
        warnings.warn(f'No file found at "{fpath}"', stacklevel=2)
    return isfile


def read_json(fpath):
    with open(fpath) as f:
        return json.load(f)


def write_json(obj, fpath):
    """Write ``obj`` as indented JSON, creating the parent directory."""
    mkdir_if_missing(osp.dirname(fpath))
    with open(fpath, "w") as f:
        json.dump(obj, f, indent=4, separators=(",", ": "))


def set_random_seed(seed):
    """Seed Python, NumPy and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def download_url(url, dst):
    """Download ``url`` to ``dst`` (needs network access)."""
    from urllib import request

    mkdir_if_missing(osp.dirname(dst))
    log.info(f'* url="{url}"')
    log.info(f'* destination="{dst}"')
    request.urlretrieve(url, dst)
    sys.stdout.write("\n")


def read_image(path):
    """Open an image as RGB (PIL)."""
    with Image.open(path) as img:
        return img.convert("RGB")


def _version(distribution: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def collect_env_info():
    """The system report printed at start-up: Python, OS, CPU, PyTorch and its CUDA/cuDNN, the GPUs, and the
    versions of the libraries a run computes with.

    Everything is read in this process (``torch.utils.collect_env`` starts package managers, compilers and
    ``nvidia-smi`` as subprocesses, which costs seconds at every start)."""
    import platform

    system = os.uname() if hasattr(os, "uname") else None  # platform.platform() may run ``uname -p``
    cuda = torch.cuda.is_available()
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else []
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    rows = [
        ("PyTorch version", torch.__version__),
        ("CUDA used to build PyTorch", torch.version.cuda or "None"),
        ("cuDNN version", cudnn or "None"),
        ("Is CUDA available", cuda),
        ("GPU models", "; ".join(f"GPU {i}: {name}" for i, name in enumerate(gpus)) or "None"),
        ("OS", f"{system.sysname} {system.release}" if system else sys.platform),
        ("Python version", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("CPU", f"{system.machine if system else 'unknown'}, {os.cpu_count()} logical cores, "
                f"{torch.get_num_threads()} torch threads"),
        ("CPU capability", torch.backends.cpu.get_cpu_capability()),
        ("Versions", f"numpy {np.__version__}, torchvision {_version('torchvision')}, "
                     f"Pillow {PIL.__version__}"),
    ]
    return "\n".join(f"{name}: {value}" for name, value in rows)


def listdir_nohidden(path, sort=False):
    """List ``path`` without names starting with a dot."""
    items = [f for f in os.listdir(path) if not f.startswith(".")]
    if sort:
        items.sort()
    return items


def get_most_similar_str_to_a_from_b(a, b):
    """Return the element of ``b`` most similar to ``a`` (difflib ratio)."""
    best, best_score = None, -1.0
    for candidate in b:
        score = difflib.SequenceMatcher(None, str(a), str(candidate)).ratio()
        if score > best_score:
            best, best_score = candidate, score
    return best


def check_availability(requested, available):
    """Raise ``ValueError`` naming the choices when ``requested`` is not available."""
    if requested not in available:
        hint = get_most_similar_str_to_a_from_b(requested, available)
        raise ValueError(
            f"'{requested}' is not available (did you mean '{hint}'?); choose from {list(available)}"
        )


def tolist_if_not(x):
    if not isinstance(x, list):
        x = [x]
    return x
