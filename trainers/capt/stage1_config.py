"""What stage 2 takes from stage 1's own config (``run_config.json`` in the stage-1 folder).

Rebuilding the frozen student and its teacher needs the settings stage 1 ran with (backbone, input size,
prompt sizes, teacher). Stage 2 reads them from the record stage 1 wrote instead of trusting that its own
command line repeats them. A key stage 2 leaves at its default takes stage 1's value; a key stage 2 sets to
another value than stage 1's is an error naming both. Folders without the record (released checkpoints,
runs older than the record) fall back to stage 2's own keys.
"""

from __future__ import annotations

import json
import logging
import os

from dassl.run_dir import RUN_CONFIG_FILE
from dassl.run_state import flatten_cfg

log = logging.getLogger(__name__)

# The keys that decide how stage 1's student and teacher are rebuilt (see trainers.promptkd).
STAGE1_KEYS = (
    "MODEL.BACKBONE.NAME",
    "INPUT.SIZE",
    "TRAINER.MODAL",
    "TRAINER.PROMPTKD.N_CTX_VISION",
    "TRAINER.PROMPTKD.PROMPT_DEPTH_VISION",
    "TRAINER.PROMPTKD.TEACHER_NAME",
    "TRAINER.PROMPTKD.TEACHER_N_CTX",
    "TRAINER.PROMPTKD.TEACHER_DEPTH",
    "TRAINER.PROMPTKD.CTX_INIT",
)
# Not read from stage 1: where the teacher file lives (TEACHER_ROOT / TEACHER_CKPT). Both name one file in
# different ways and relative to each run's working directory, so a difference is not a contradiction.


def read_stage1_record(stage1_dir: str) -> dict | None:
    """The flat config record of the stage-1 run, or None when the folder has none."""
    path = os.path.join(stage1_dir, RUN_CONFIG_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path} (the stage-1 run's config) cannot be read: {err}") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path}: expected an object of config keys, got {type(record).__name__}")
    return record


def stage1_cfg(cfg, stage1_dir: str, defaults=None):
    """``cfg`` with the :data:`STAGE1_KEYS` of the stage-1 run (a copy; ``cfg`` itself when nothing moves).

    ``defaults``: the config of an unchanged command line (default: the project's defaults), used to tell
    a key stage 2 left alone from one it set.
    """
    record = read_stage1_record(stage1_dir)
    if record is None:
        return cfg
    if defaults is None:
        from dassl.config import extend_cfg, get_cfg_default

        defaults = get_cfg_default()
        extend_cfg(defaults)
    ours_all, default_all = flatten_cfg(cfg), flatten_cfg(defaults)
    taken, conflicts = [], []
    for key in STAGE1_KEYS:
        if key not in record:
            continue
        theirs, ours = record[key], ours_all.get(key)
        if ours == theirs:
            continue
        if ours == default_all.get(key):
            taken.append((key, theirs))
        else:
            conflicts.append(f"{key}: stage 1 ran with {theirs!r}, stage 2 sets {ours!r}")
    if conflicts:
        raise ValueError(f"SPLE.BACK_CKPT_PATH={stage1_dir!r}: the stage-2 config contradicts the stage-1 "
                         f"run's {os.path.join(stage1_dir, RUN_CONFIG_FILE)}:\n  " + "\n  ".join(conflicts)
                         + "\nDrop these keys from the stage-2 command (they are read from stage 1) or set "
                           "them to stage 1's values.")
    if not taken:
        return cfg
    out = cfg.clone()
    out.defrost()
    for key, value in taken:
        log.info(f"Stage 1 config: {key} = {value!r} (from {os.path.join(stage1_dir, RUN_CONFIG_FILE)})")
        out.merge_from_list([key, tuple(value) if isinstance(value, list) else value])
    out.freeze()
    return out
