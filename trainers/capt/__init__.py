"""CAPT: confusion-aware prompt tuning (Confusion Bank, SEM, SAM with the Diff-Manner Adapter, MGDE).

Stage 1 is PromptKD (``trainers.promptkd``); importing this package appends the bank builder to its
``STAGE1_HOOKS`` and registers the stage-2 trainer ``CAPT`` (alias ``StackSPLE_PromptKD``).

Stage-1 provenance (rules in :mod:`trainers.capt.resources`): stage 2 freezes ``model-best.pth.tar`` when the
stage-1 run has it, else ``model.pth.tar-<SPLE.BACK_CKPT_EPOCH>`` (``CAPT.STAGE1_CHECKPOINT``; never the best
file under ``TEST.PROTOCOL clean``). The bank records the file and sha256 of the weights that built it and is
used only with exactly those weights; otherwise stage 2 rebuilds it from the weights it froze. Stage-2
checkpoints record the stage-1 identity and ``CAPT.MODE``; loading them with others is an error.
"""

from trainers import promptkd

from . import config  # noqa: F401  (registers CAPT.* and SPLE.*)
from .builder import stage1_hook
from .trainer import CAPT, StackSPLE_PromptKD

if stage1_hook not in promptkd.STAGE1_HOOKS:
    promptkd.STAGE1_HOOKS.append(stage1_hook)

__all__ = ["CAPT", "StackSPLE_PromptKD", "stage1_hook"]
