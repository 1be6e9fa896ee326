"""CAPT: confusion-aware prompt tuning (Confusion Bank, SEM, SAM with the Diff-Manner Adapter, MGDE).

Stage 1 is PromptKD (``trainers.promptkd``); :mod:`.builder` registers the bank builder with
``trainers.promptkd.register_stage1_hook``. Stage-2 trainers: ``CAPT`` (the paper; alias
``StackSPLE_PromptKD``, the published command line) and ``CAPTReleased`` (the replica of the authors'
released code, also built by ``CAPT`` under ``CAPT.MODE released``).

Stage-1 provenance (rules in :mod:`trainers.capt.resources`): stage 2 freezes ``model-best.pth.tar`` when the
stage-1 run has it, else ``model.pth.tar-<SPLE.BACK_CKPT_EPOCH>`` (``CAPT.STAGE1_CHECKPOINT``; never the best
file under ``TEST.PROTOCOL clean``). The bank records the file and sha256 of the weights that built it and is
used only with exactly those weights; otherwise stage 2 rebuilds it from the weights it froze. Stage-2
checkpoints record the stage-1 identity and ``CAPT.MODE``; loading them with others is an error.
"""

from . import config  # noqa: F401  (registers CAPT.* and SPLE.*)
from .builder import stage1_hook
from .released_trainer import CAPTReleased
from .trainer import CAPT, StackSPLE_PromptKD

__all__ = ["CAPT", "CAPTReleased", "StackSPLE_PromptKD", "stage1_hook"]
