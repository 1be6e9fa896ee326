"""Pieces of the sweep's SLURM backend that do not run anything: executor parameter checks, how a chain is
cut into jobs by resources, and the per-chain record that keeps statuses honest across requeues.

Imports neither torch nor submitit at module level (the parameter check imports submitit when called).
"""

import difflib
import functools
import json
import os
import os.path as osp
import time

from dassl.atomic_io import write_json_atomic

# The sweep's own key in a ``slurm:`` mapping: which submitit executor to use (slurm, local, debug).
CLUSTER_KEY = "cluster"
STATE_FOLDER = "sweep_state"


# ------------------------------------------------------------------------------------------------------
# Executor parameters
# ------------------------------------------------------------------------------------------------------
def require_submitit():
    """The submitit module, or an error that says how to install it."""
    try:
        import submitit
    except ImportError as e:
        raise RuntimeError("The slurm backend needs the 'submitit' package: pip install submitit") from e
    return submitit


@functools.lru_cache(maxsize=1)
def _submitit_parameters():
    """(generic parameter -> accepted types, {executor name: its own parameter names}), read once."""
    submitit = require_submitit()
    from submitit.core import plugins

    generics = {}
    for name, kind in submitit.AutoExecutor._typed_parameters().items():
        generics[name] = (int, float) if kind is float else (kind,)
    executors = {name: set(cls._valid_parameters()) for name, cls in plugins.get_executors().items()}
    return generics, executors


def check_executor_params(params, source):
    """Raise ValueError naming ``source``, the bad key or value and what is accepted, before any submission.

    Accepted: submitit's generic parameters (``timeout_min``, ``gpus_per_node``, ...), executor-specific
    ones as ``<executor>_<name>`` (``slurm_partition``), and ``cluster``.
    """
    if not isinstance(params, dict):
        raise ValueError(f"{source}: expected a mapping of submitit parameters, got {params!r}")
    generics, executors = _submitit_parameters()
    for key, value in params.items():
        if key == CLUSTER_KEY:
            if value is not None and value not in executors:
                raise ValueError(f"{source}: cluster {value!r} is not a submitit executor; "
                                 f"accepted: {sorted(executors)}")
            continue
        if key in generics:
            kinds = generics[key]
            if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
                expected = " or ".join(k.__name__ for k in kinds)
                raise ValueError(f"{source}: submitit parameter {key!r} must be {expected}, got {value!r}")
            continue
        prefix, _, name = key.partition("_")
        if prefix in executors and (name in executors[prefix] or name in generics):
            continue
        accepted = sorted(generics) + [f"slurm_{n}" for n in sorted(executors.get("slurm", ()))]
        close = difflib.get_close_matches(key, accepted, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(
            f"{source}: unknown submitit parameter {key!r}.{hint} Accepted: {CLUSTER_KEY}, "
            f"{', '.join(accepted)} (and <executor>_<name> for the executors {sorted(executors)})"
        )


# ------------------------------------------------------------------------------------------------------
# Chains -> jobs
# ------------------------------------------------------------------------------------------------------
def job_parts(chain, resources):
    """Cut ``chain`` into ``(start, stop, params)`` parts of consecutive steps with equal ``resources(run)``.

    Each part becomes one job; a part after the first starts when the previous one has succeeded.
    """
    parts = []
    for i, run in enumerate(chain):
        params = resources(run)
        if parts and parts[-1][2] == params:
            parts[-1] = (parts[-1][0], i + 1, params)
        else:
            parts.append((i, i + 1, params))
    return parts


def state_folder(log_folder):
    """A new folder for one submission's records, beside submitit's logs (``output/slurm/%j`` ->
    ``output/slurm/sweep_state/<time>-<pid>``); requeued jobs keep using the one they were given."""
    parts = osp.normpath(log_folder).split(os.sep)
    fixed = parts[: next((i for i, part in enumerate(parts) if "%" in part), len(parts))]
    base = os.sep.join(fixed) or "."
    return osp.join(base, STATE_FOLDER, f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")


# ------------------------------------------------------------------------------------------------------
# What each attempt of a chain did
# ------------------------------------------------------------------------------------------------------
class ChainRecord:
    """``<state folder>/<chain>.json``: per step, the last status and the attempt that set it.

    A requeued job finds a step finished; the record says whether an earlier attempt of this submission
    trained it ("ok") or it was finished before the sweep was submitted ("skipped").
    """

    def __init__(self, path):
        self.path = path
        self.data = {"attempts": 0, "steps": {}}
        if osp.exists(path):
            try:
                with open(path) as f:
                    self.data = json.load(f)
            except (OSError, ValueError):
                pass  # an unreadable record only loses the "trained earlier" distinction

    def start_attempt(self):
        self.data["attempts"] = int(self.data.get("attempts", 0)) + 1
        self.save()
        return self.data["attempts"]

    def status(self, label):
        return self.data.get("steps", {}).get(label, {}).get("status")

    def attempt_of(self, label):
        return self.data.get("steps", {}).get(label, {}).get("attempt")

    def set(self, label, status):
        self.data.setdefault("steps", {})[label] = {"status": status, "attempt": self.data.get("attempts", 0)}
        self.save()

    def save(self):
        write_json_atomic(self.data, self.path, indent=2)
