"""Small file-system, JSON, image and seeding utilities."""

import difflib
import errno
import json
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
    print(f'* url="{url}"')
    print(f'* destination="{dst}"')
    request.urlretrieve(url, dst)
    sys.stdout.write("\n")


def read_image(path):
    """Open an image as RGB (PIL)."""
    with Image.open(path) as img:
        return img.convert("RGB")


def collect_env_info():
    """Torch's environment report plus the Pillow version."""
    from torch.utils.collect_env import get_pretty_env_info

    return get_pretty_env_info() + f"\n        Pillow ({PIL.__version__})"


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
