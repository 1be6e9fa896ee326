"""What a run folder holds, by name, and the one rule for choosing which checkpoint of it to load.

Layout of ``<output>`` (Dassl's, which upstream tools and published teachers rely on)::

    log.txt  results.json  run_config.json  finished.json  [exceptions.txt]
    <model name>/model.pth.tar-<N>     one file per kept epoch N (1-based)
    <model name>/model-best.pth.tar    the epoch with the best ``val`` accuracy (best_val runs only)
    <model name>/checkpoint            first line: the basename of the last file saved (for resuming)

Every loader, trainer and tool that names one of these files or picks a checkpoint goes through this
module, so "which weights did this run evaluate" has one answer. It imports no torch, so launchers and
result parsers stay light.
"""

from __future__ import annotations

import logging
import os
import os.path as osp
import re

log = logging.getLogger(__name__)

__all__ = [
    "BEST_FILE",
    "EPOCH_FILE_PATTERN",
    "EXCEPTIONS_FILE",
    "FINISHED_FILE",
    "LOG_FILE",
    "POINTER_FILE",
    "RESULTS_FILE",
    "RUN_CONFIG_FILE",
    "choose_checkpoint",
    "epoch_file",
    "epoch_files_newest_first",
    "epoch_of",
    "find_last_epoch",
    "is_best_file",
]

BEST_FILE = "model-best.pth.tar"
POINTER_FILE = "checkpoint"
LOG_FILE = "log.txt"
RESULTS_FILE = "results.json"
WRONG_FILE = "wrong_predictions.json"
# CAPT stage 2: the frozen stage-1 backbone's predictions on the same evaluation (resolved-rate baseline)
BACKBONE_WRONG_FILE = "backbone_wrong_predictions.json"
RUN_CONFIG_FILE = "run_config.json"
FINISHED_FILE = "finished.json"
EXCEPTIONS_FILE = "exceptions.txt"

_EPOCH_PREFIX = "model.pth.tar-"
EPOCH_FILE_PATTERN = f"{_EPOCH_PREFIX}<N>"  # how messages name "an epoch file"
_EPOCH_FILE = re.compile(r"^model\.pth\.tar-(\d+)$")


def epoch_file(epoch: int) -> str:
    """File name of the checkpoint saved after epoch ``epoch`` (1-based)."""
    return f"{_EPOCH_PREFIX}{int(epoch)}"


def epoch_of(path) -> int | None:
    """The epoch of a ``model.pth.tar-<N>`` path, None for any other file (the best file included)."""
    match = _EPOCH_FILE.match(osp.basename(str(path)))
    return int(match.group(1)) if match else None


def is_best_file(path) -> bool:
    return bool(path) and osp.basename(str(path)) == BEST_FILE


def epoch_files_newest_first(model_dir) -> list[str]:
    """Paths of every ``model.pth.tar-<N>`` in ``model_dir``, highest N first (empty if no folder)."""
    if not osp.isdir(model_dir):
        return []
    found = [(n, name) for name in os.listdir(model_dir) if (n := epoch_of(name)) is not None]
    return [osp.join(model_dir, name) for _, name in sorted(found, reverse=True)]


def find_last_epoch(model_dir) -> int | None:
    """Largest ``N`` among files named ``model.pth.tar-<N>`` in ``model_dir`` (None if there is none)."""
    files = epoch_files_newest_first(model_dir)
    return epoch_of(files[0]) if files else None


def choose_checkpoint(model_dir, epoch=None, *, clean: bool = False, fallback_to_last: bool = False) -> str:
    """Path of the checkpoint to load from ``model_dir``; the one rule every loader follows.

    Args:
        model_dir: a model's folder (``<output>/<model name>``).
        epoch: None -> the best file; a negative number -> the last epoch file; N -> ``model.pth.tar-N``.
        clean: ``TEST.PROTOCOL clean``: None means the last epoch file, since the best file may have been
            selected on test images.
        fallback_to_last: when the chosen file is absent, take the last epoch file instead, with a note
            naming both (runs without best-val selection have no best file; toy or shortened schedules end
            before a published epoch).

    Raises FileNotFoundError naming the folder and the file it expected.
    """
    if epoch is None and clean:
        epoch = -1
    if epoch is None:
        wanted = BEST_FILE
    elif int(epoch) < 0:
        last = find_last_epoch(model_dir)
        if last is None:
            raise FileNotFoundError(f'No "{EPOCH_FILE_PATTERN}" file found in "{model_dir}"')
        wanted = epoch_file(last)
    else:
        wanted = epoch_file(epoch)
    path = osp.join(model_dir, wanted)
    if osp.exists(path):
        return path
    if fallback_to_last and (last := find_last_epoch(model_dir)) is not None:
        fallback = osp.join(model_dir, epoch_file(last))
        log.warning(f"Note: {path} not found; using the last-epoch file {fallback}")
        return fallback
    raise FileNotFoundError(f'Model not found at "{path}"')
