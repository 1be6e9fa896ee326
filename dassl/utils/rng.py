"""Capture and restore every global random number generator.

Checkpoints carry this state so that an interrupted run that is resumed
continues with exactly the random numbers an uninterrupted run would draw.
The state is made of tensors, ints and lists only, so checkpoints stay
loadable with ``torch.load(weights_only=True)``.
"""

import random

import numpy as np
import torch

__all__ = ["get_rng_state", "set_rng_state"]


def get_rng_state():
    """Return the state of Python's, NumPy's and torch's global generators."""
    py_version, py_internal, py_gauss = random.getstate()
    np_state = np.random.get_state(legacy=False)
    state = {
        "python": {
            "version": int(py_version),
            "state": torch.tensor(py_internal, dtype=torch.int64),
            "gauss": py_gauss,
        },
        "numpy": {
            "bit_generator": np_state["bit_generator"],
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
        "cuda": [],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state):
    """Restore a state produced by :func:`get_rng_state`."""
    py = state["python"]
    internal = tuple(int(v) for v in py["state"].tolist())
    random.setstate((py["version"], internal, py["gauss"]))
    npy = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": npy["bit_generator"],
            "state": {"key": npy["key"].numpy().astype(np.uint32), "pos": npy["pos"]},
            "has_gauss": npy["has_gauss"],
            "gauss": npy["gauss"],
        }
    )
    torch.set_rng_state(state["torch"].cpu())
    cuda_states = state.get("cuda") or []
    if cuda_states and torch.cuda.is_available() and len(cuda_states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda_states])
