"""Reading the MATLAB annotation files of Stanford Cars and Oxford Flowers (needs SciPy)."""

from __future__ import annotations

import numpy as np


def load_mat(path: str, dataset: str) -> dict:
    """``scipy.io.loadmat`` with a clear error when SciPy is not installed."""
    try:
        from scipy.io import loadmat
    except ImportError as err:
        raise ImportError(
            f"{dataset}: reading {path} needs SciPy (pip install scipy). SciPy is only needed to build the "
            f"split the first time; with the CoOp split file in place it is not used."
        ) from err
    return loadmat(path)


def mat_field(mat: dict, key: str, path: str) -> np.ndarray:
    if key not in mat:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise KeyError(f"{path} has no variable {key!r} (found {found})")
    return mat[key]


def scalar(value):
    """The single value inside MATLAB's nested 1x1 arrays (a string or a number)."""
    arr = np.asarray(value)
    while arr.dtype == object and arr.size == 1:
        arr = np.asarray(arr.reshape(-1)[0])
    if arr.dtype.kind in "US":
        return str(arr.reshape(-1)[0]) if arr.size else ""
    return arr.reshape(-1)[0].item()
