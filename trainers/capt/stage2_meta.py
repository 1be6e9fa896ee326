"""The stage-2 metadata: which stage 1 a CAPT run froze, written beside its checkpoints and checked on load.

``capt_stage2.json`` in the output folder lets ``--model-dir`` find the stage-1 run; the same record rides
in every stage-2 checkpoint, and loading the weights with another stage-1 file or ``CAPT.MODE`` is an error.
"""

from __future__ import annotations

import json
import logging
import os

from dassl.utils import write_json_atomic
from trainers.common.provenance import describe, same_weights

log = logging.getLogger(__name__)

STAGE2_META = "capt_stage2.json"


def check_stage2_checkpoint(path: str, stored: dict, current: dict) -> None:
    """Refuse stage-2 weights trained with another CAPT.MODE or on another stage-1 checkpoint."""
    if stored.get("mode") != current["mode"]:
        raise ValueError(f"{path} was trained with CAPT.MODE {stored.get('mode')!r}, but this run builds "
                         f"CAPT.MODE {current['mode']!r}; set CAPT.MODE {stored.get('mode')} to evaluate it")
    recorded = stored.get("stage1_weights")
    if recorded is None:
        log.warning(f"{path} records no stage-1 weights identity (older checkpoint); it cannot be "
                    f"checked against {describe(current['stage1_weights'])}")
        return
    if not same_weights(recorded, current["stage1_weights"]):
        raise ValueError(f"{path} was trained on the stage-1 weights {describe(recorded)}, but this run "
                         f"freezes {describe(current['stage1_weights'])}; point SPLE.BACK_CKPT_PATH / "
                         f"SPLE.BACK_CKPT_EPOCH / CAPT.STAGE1_CHECKPOINT / TEST.PROTOCOL at the stage-1 "
                         f"weights it was trained on")


def write_stage2_meta(output_dir: str, meta: dict) -> None:
    write_json_atomic(meta, os.path.join(output_dir, STAGE2_META))


def read_stage2_meta(model_dir: str) -> dict:
    path = os.path.join(model_dir, STAGE2_META)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: --model-dir must be a CAPT stage-2 output directory "
                                f"(or pass SPLE.BACK_CKPT_PATH <stage-1 dir>)")
    with open(path) as f:
        return json.load(f)
