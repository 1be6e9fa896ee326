"""Loading checkpoints, caches and prototype files without running code they might carry.

A pickle can name any importable callable and have it called while it loads, so a checkpoint or a
few-shot cache copied from elsewhere could run a shell command. Every file is therefore read with an
allow-list:

- checkpoints: ``torch.load(weights_only=True)``, plus the inert classes that checkpoints of the
  original Dassl hold (a pickled scheduler successor with its optimizer, numpy scalars);
- few-shot caches / ``preprocessed.pkl``: a restricted unpickler that knows ``Datum`` and containers;
- tensor pickles (DAPT prototypes): a restricted unpickler that only rebuilds tensors.

A checkpoint that needs anything else is refused with an error naming the file and the opt-in key
:data:`ALLOW_UNSAFE_KEY`; setting it (``ALLOW_UNSAFE_PICKLE True``) loads such files with full pickle,
which runs whatever code the file carries: use it only for files from a source you trust.
"""

import collections
import contextlib
import copyreg
import io
import pickle
import re
import warnings

import numpy as np
import torch

__all__ = [
    "ALLOW_UNSAFE_KEY",
    "UnsafeFileError",
    "checkpoint_safe_globals",
    "load_datum_pickle",
    "load_tensor_pickle",
    "torch_load_checked",
    "unsafe_pickle_allowed",
]

ALLOW_UNSAFE_KEY = "ALLOW_UNSAFE_PICKLE"
_POLICY = {"allow_unsafe": False}
_GLOBAL_IN_ERROR = re.compile(r"GLOBAL (\S+) was not an allowed global")


class UnsafeFileError(pickle.UnpicklingError):
    """A file asked to load something outside the allow-list (it may carry code)."""


@contextlib.contextmanager
def unsafe_pickle_allowed(allow=True):
    """Within the block, checkpoints that need full pickle load (with a warning) instead of failing."""
    previous = _POLICY["allow_unsafe"]
    _POLICY["allow_unsafe"] = bool(allow)
    try:
        yield
    finally:
        _POLICY["allow_unsafe"] = previous


def checkpoint_safe_globals():
    """Classes that checkpoints of the original Dassl pickle and that rebuild without running code.

    Its warm-up schedulers stored the successor scheduler object (holding its optimizer), and some
    runs stored numpy scalars (e.g. a ``val_result``).
    """
    sched, optim = torch.optim.lr_scheduler, torch.optim
    classes = [
        sched.CosineAnnealingLR, sched.StepLR, sched.MultiStepLR, sched.ExponentialLR,
        optim.SGD, optim.Adam, optim.AdamW, optim.RMSprop,
        collections.defaultdict, dict,
        np.dtype,
    ]
    core = getattr(np, "_core", None) or np.core
    classes.append(core.multiarray.scalar)
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        classes += [dtypes.Float64DType, dtypes.Float32DType, dtypes.Int64DType, dtypes.Int32DType]
    return classes


_OPT_IN = (f"If you trust where this file came from, opt in with the config key {ALLOW_UNSAFE_KEY} True "
           f"(train.py: append '{ALLOW_UNSAFE_KEY} True').")
_REBUILD = "Delete it to have it rebuilt (this file type is never loaded with full pickle)."


def _refusal(fpath, what, fix=_OPT_IN):
    return UnsafeFileError(
        f'Refusing to load "{fpath}": it needs {what}, which the safe loader does not allow; unpickling '
        f"it could run any code the file carries. {fix}"
    )


def torch_load_checked(fpath, map_location=None, **load_args):
    """``torch.load`` of ``fpath`` with ``weights_only=True`` and :func:`checkpoint_safe_globals`.

    Raises :class:`UnsafeFileError` naming the file and the opt-in key when the file needs more,
    unless :func:`unsafe_pickle_allowed` is active (then it loads with full pickle and warns).
    """
    try:
        with torch.serialization.safe_globals(checkpoint_safe_globals()):
            return torch.load(fpath, map_location=map_location, weights_only=True, **load_args)
    except pickle.UnpicklingError as err:
        match = _GLOBAL_IN_ERROR.search(str(err))
        what = f"the global {match.group(1)}" if match else "objects other than tensors and containers"
        if not _POLICY["allow_unsafe"]:
            raise _refusal(fpath, what) from None
        warnings.warn(f'{ALLOW_UNSAFE_KEY} is set: loading "{fpath}" with full pickle (it needs {what})',
                      stacklevel=2)
        return torch.load(fpath, map_location=map_location, weights_only=False, **load_args)


class _AllowListUnpickler(pickle.Unpickler):
    def __init__(self, file, allowed, source, fix):
        super().__init__(file)
        self._allowed = allowed
        self._source = source
        self._fix = fix

    def find_class(self, module, name):
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise _refusal(self._source, f"the global {module}.{name}", self._fix) from None


_CONTAINERS = {
    ("builtins", n): getattr(__import__("builtins"), n)
    for n in ("dict", "list", "tuple", "set", "frozenset", "int", "float", "str", "bool", "object")
}
_CONTAINERS[("collections", "OrderedDict")] = collections.OrderedDict
_CONTAINERS[("copyreg", "_reconstructor")] = copyreg._reconstructor  # protocol 0/1 objects


def _restricted_load(path, allowed, fix):
    with open(path, "rb") as f:
        return _AllowListUnpickler(f, allowed, path, fix).load()


def load_datum_pickle(path):
    """Unpickle a few-shot cache or ``preprocessed.pkl``: only ``Datum`` objects in containers."""
    from dassl.data.datasets.base_dataset import Datum

    allowed = dict(_CONTAINERS)
    allowed[("dassl.data.datasets.base_dataset", "Datum")] = Datum
    allowed[(Datum.__module__, "Datum")] = Datum
    return _restricted_load(path, allowed, _REBUILD)


def _storage_from_bytes(data):
    # torch pickles a storage as the bytes of a legacy torch.save; read them with the weights-only loader.
    return torch.load(io.BytesIO(data), weights_only=True)


def load_tensor_pickle(path):
    """Unpickle a file written by ``pickle.dump(tensor)`` (DAPT prototypes), rebuilding only tensors."""
    allowed = dict(_CONTAINERS)
    allowed[("torch._utils", "_rebuild_tensor_v2")] = torch._utils._rebuild_tensor_v2
    allowed[("torch._utils", "_rebuild_tensor")] = torch._utils._rebuild_tensor
    allowed[("torch._utils", "_rebuild_parameter")] = torch._utils._rebuild_parameter
    allowed[("torch.storage", "_load_from_bytes")] = _storage_from_bytes
    return _restricted_load(path, allowed, "Delete it and generate it again.")
