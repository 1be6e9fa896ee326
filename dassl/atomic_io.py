"""Atomic file writes that honour the umask: the one way the project writes result, cache and weight files.

A file is written to a temporary name in its own folder (``.<name>.<random>.tmp``, the pattern that
:func:`dassl.run_state.remove_stale_temp_files` cleans up after a killed run), flushed to disk, given the
mode a plain ``open()`` would have given it (``0o666`` minus the umask: 0644 under umask 022, 0664 under
002, so group members of a shared lab folder can read results and teachers), then renamed onto the target.
Readers never see half a file. ``tempfile.mkstemp`` alone makes 0600 files, which nobody else can read.

This module imports neither torch nor matplotlib, so launchers stay light; writers that need them hand a
callable to :func:`atomic_path`.
"""

import contextlib
import json
import os
import os.path as osp
import pickle
import shutil
import tempfile
import threading

__all__ = [
    "atomic_open",
    "atomic_path",
    "copy_file_atomic",
    "current_umask",
    "new_file_mode",
    "write_json_atomic",
    "write_pickle_atomic",
    "write_text_atomic",
]

TEMP_SUFFIX = ".tmp"
_UMASK_LOCK = threading.Lock()


def current_umask():
    """The process umask, read without changing it where the kernel reports it (Linux 4.7+).

    Elsewhere it is read by setting and restoring it under a lock; while it is briefly replaced the value
    is 0o077, so a file another thread creates in that window is too private rather than too open.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def new_file_mode():
    """The permission bits ``open(path, "w")`` gives a new file under the current umask."""
    return 0o666 & ~current_umask()


def _fsync_file(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path`` to write to; on success it replaces ``path``.

    The body may write the temporary file however it likes (``torch.save``, ``fig.savefig`` with an
    explicit ``format``, ...). On an exception the temporary file is removed and ``path`` is untouched.
    The parent folder is created when missing.
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + osp.basename(path) + ".", suffix=TEMP_SUFFIX)
    os.close(fd)
    try:
        yield tmp
        _fsync_file(tmp)
        os.chmod(tmp, new_file_mode())
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


@contextlib.contextmanager
def atomic_open(path, mode="w", **kwargs):
    """``open()`` for writing, atomically: the file appears at ``path`` only when the block succeeds."""
    if not mode.startswith("w"):
        raise ValueError(f"atomic_open writes whole files; mode must start with 'w', got {mode!r}")
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as f:
        yield f


def write_text_atomic(text, path):
    """Write ``text`` so that readers never see a half-written file."""
    with atomic_open(path) as f:
        f.write(text)


def write_json_atomic(obj, path, indent=4, sort_keys=False):
    """JSON in Dassl's ``write_json`` layout (4-space indent, ``": "``) plus a final newline."""
    text = json.dumps(obj, indent=indent, sort_keys=sort_keys, separators=(",", ": "))
    write_text_atomic(text + "\n", path)


def write_pickle_atomic(obj, path):
    """A pickle of the highest protocol."""
    with atomic_open(path, "wb") as f:
        pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)


def copy_file_atomic(src, dst):
    """Copy the bytes of ``src`` to ``dst`` (the mode follows the umask, not ``src``)."""
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)
