"""What a run folder says about its run: which config made it, which weights it read, whether it finished.

``train.py`` writes two records into the output folder:

- ``run_config.json`` at start: the merged config (minus keys that do not change results, such as the
  output folder) and the flags that decide what is loaded. Re-running into the folder with another config
  is refused, naming the keys that differ.
- ``finished.json`` at the very end of a successful run (training, or an evaluation-only run), removed at
  the start of every run. It holds the config hash and the identity (size, modification time, sha256) of
  every weights file the run loaded from outside its folder.

A folder counts as finished only when ``finished.json`` exists, there is no ``exceptions.txt``, and none
of the weights it loaded has changed since (a retrained model makes its evaluation stale). The demo, the
sweep and the result parsers all ask :func:`finished_state`. This module imports no torch, so launchers
stay light.
"""

import glob
import hashlib
import json
import logging
import os
import os.path as osp

from dassl.atomic_io import write_json_atomic
from dassl.run_dir import EXCEPTIONS_FILE, FINISHED_FILE, RUN_CONFIG_FILE

log = logging.getLogger(__name__)

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; runs are not guarded against each other
    fcntl = None

__all__ = [
    "EXCEPTIONS_FILE",
    "FINISHED_FILE",
    "RUN_CONFIG_FILE",
    "FolderInUse",
    "RunConfigMismatch",
    "RunLock",
    "check_run_config",
    "config_hash",
    "file_identity",
    "finished_state",
    "flatten_cfg",
    "identity_changed",
    "is_finished",
    "mark_finished",
    "mark_started",
    "loaded_weights",
    "note_loaded",
    "remove_stale_temp_files",
]

# Keys that say where things are or how verbose the run is, not what it computes.
UNHASHED_KEYS = frozenset({
    "OUTPUT_DIR", "RESUME", "ALLOW_UNSAFE_PICKLE", "DATASET.ROOT", "USE_CUDA", "VERBOSE",
    "TRAIN.PRINT_FREQ", "TRAIN.PROGRESS_BAR", "TRAIN.COLLECT_ENV_INFO", "TRAIN.PRINT_MAX_MEM",
    "DATALOADER.NUM_WORKERS", "MODEL.CLIP_WEIGHTS_DIR", "DATASET.CACHE_DIR",
})
_SHOWN_DIFFS = 8
LOCK_FILE = ".run.lock"
_LOADED = {}  # absolute path -> (size, mtime_ns) of every checkpoint loaded by this process
_SHA256 = {}  # (absolute path, size, mtime_ns) -> sha256: a file is hashed once while it is unchanged


class RunConfigMismatch(RuntimeError):
    """The output folder holds a run made with another config."""


def _write_json_atomic(obj, path):
    write_json_atomic(obj, path, indent=2, sort_keys=True)


def _read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _plain(value):
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def flatten_cfg(cfg, prefix=""):
    """``{"OPTIM.LR": 0.002, ...}`` of a (yacs) config, without :data:`UNHASHED_KEYS`."""
    flat = {}
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_cfg(value, name + "."))
        elif name not in UNHASHED_KEYS:
            flat[name] = _plain(value)
    return flat


def config_hash(flat):
    return hashlib.sha256(json.dumps(flat, sort_keys=True, default=str).encode()).hexdigest()[:16]


def check_run_config(output_dir, record, accept_change=False):
    """Refuse a run whose ``record`` (config + flags) differs from the one stored in ``output_dir``.

    ``accept_change`` lets it through (the new record replaces the old). Writes the record.
    """
    path = osp.join(output_dir, RUN_CONFIG_FILE)
    previous = _read_json(path)
    if previous is not None and previous != record and not accept_change:
        keys = sorted(set(previous) | set(record))
        diffs = [f"{k}: {previous.get(k)!r} -> {record.get(k)!r}"
                 for k in keys if previous.get(k) != record.get(k)]
        more = f"\n  ... and {len(diffs) - _SHOWN_DIFFS} more" if len(diffs) > _SHOWN_DIFFS else ""
        raise RunConfigMismatch(
            f"{output_dir} holds a run made with another config ({path}); differing keys:\n  "
            + "\n  ".join(diffs[:_SHOWN_DIFFS]) + more
            + "\nUse another --output-dir, delete the folder, or pass --accept-config-change to continue "
            "this run with the new config."
        )
    _write_json_atomic(record, path)


def file_identity(path):
    """Path, size, modification time and sha256 of a file (hashed once while size and mtime are unchanged)."""
    path = osp.abspath(path)
    stat = os.stat(path)
    key = (path, stat.st_size, stat.st_mtime_ns)
    if key not in _SHA256:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                digest.update(block)
        _SHA256[key] = digest.hexdigest()
    return {"path": path, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": _SHA256[key]}


def identity_changed(identity):
    """True when the file named by ``identity`` is gone or holds other bytes now."""
    path = identity["path"]
    if not osp.isfile(path):
        return True
    stat = os.stat(path)
    if stat.st_size == identity["size"] and stat.st_mtime_ns == identity["mtime_ns"]:
        return False
    return file_identity(path)["sha256"] != identity["sha256"]


def mark_started(output_dir):
    """A run (re)starts in ``output_dir``: it is no longer finished."""
    path = osp.join(output_dir, FINISHED_FILE)
    if osp.exists(path):
        os.remove(path)


def mark_finished(output_dir, kind, record, weights=()):
    """Write ``finished.json``: ``kind`` is "train" or "eval"; ``weights`` are :func:`file_identity` dicts."""
    marker = {"schema": 1, "kind": kind, "config_hash": config_hash(record), "weights": list(weights)}
    _write_json_atomic(marker, osp.join(output_dir, FINISHED_FILE))


def finished_state(output_dir):
    """``(True, "")`` for a finished, current run; else ``(False, why)``."""
    if osp.exists(osp.join(output_dir, EXCEPTIONS_FILE)):
        return False, f"its last run failed (see {EXCEPTIONS_FILE})"
    marker = _read_json(osp.join(output_dir, FINISHED_FILE))
    if not isinstance(marker, dict):
        return False, f"no {FINISHED_FILE} (the run was interrupted or has not finished)"
    for identity in marker.get("weights") or ():
        if identity_changed(identity):
            return False, f"the weights it loaded changed since: {identity['path']}"
    return True, ""


def is_finished(output_dir):
    """True when ``output_dir`` holds a run that said it finished (``finished.json``), did not fail
    afterwards (no exceptions.txt) and whose loaded weights are unchanged."""
    return finished_state(output_dir)[0]


def note_loaded(path):
    """Remember a weights file this process loaded (from ``load_checkpoint``); hashed only when reported."""
    stat = os.stat(path)
    _LOADED[osp.abspath(path)] = (stat.st_size, stat.st_mtime_ns)


def loaded_weights(outside=None, forget=False):
    """Identities of the files noted by :func:`note_loaded`, except those below ``outside``."""
    root = osp.abspath(outside) + os.sep if outside else None
    found = []
    for path, (size, mtime_ns) in sorted(_LOADED.items()):
        if root and path.startswith(root):
            continue
        current = osp.isfile(path) and os.stat(path)
        if current and (current.st_size, current.st_mtime_ns) == (size, mtime_ns):
            found.append(file_identity(path))
        else:  # replaced or removed since it was loaded: what was loaded can no longer be named
            found.append({"path": path, "size": size, "mtime_ns": mtime_ns, "sha256": None})
    if forget:
        _LOADED.clear()
    return found


class FolderInUse(RuntimeError):
    """Another process holds the lock of the output folder."""


class RunLock:
    """Exclusive lock on an output folder for the lifetime of one run (``with RunLock(dir): ...``).

    The lock is an advisory ``flock`` on ``<dir>/.run.lock``; the kernel drops it when the process
    dies, so a killed run never leaves the folder locked.
    """

    def __init__(self, output_dir):
        self.path = osp.join(output_dir, LOCK_FILE)
        self._file = None

    def __enter__(self):
        os.makedirs(osp.dirname(self.path), exist_ok=True)
        self._file = open(self.path, "a+")
        if fcntl is not None:
            try:
                fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                self._file.seek(0)
                holder = self._file.read().strip() or "unknown"
                self._file.close()
                raise FolderInUse(
                    f"another run, pid {holder}, is using this folder: {osp.dirname(self.path)} "
                    f"(lock {self.path}); wait for it to end or pass another --output-dir"
                ) from None
        self._file.seek(0)
        self._file.truncate()
        self._file.write(f"{os.getpid()}\n")
        self._file.flush()
        return self

    def __exit__(self, *exc):
        self._file.close()  # closing releases the flock
        return False


def remove_stale_temp_files(output_dir):
    """Delete the ``.<name>.<random>.tmp`` files that atomic writes of a killed run left behind.

    Only call it while holding :class:`RunLock` (another run's files in flight would look the same).
    """
    removed = []
    for pattern in (".*.tmp", osp.join("*", ".*.tmp")):
        for path in glob.glob(osp.join(glob.escape(output_dir), pattern)):
            os.remove(path)
            removed.append(path)
    for path in removed:
        log.info(f"Removed {path}, left by an interrupted write")
    return removed
