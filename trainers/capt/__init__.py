"""CAPT: confusion-aware prompt tuning (Confusion Bank, SEM, SAM with the Diff-Manner Adapter, MGDE).

Stage 1 is PromptKD (``trainers.promptkd``); importing this package appends the bank builder to its
``STAGE1_HOOKS`` and registers the stage-2 trainer ``CAPT`` (alias ``StackSPLE_PromptKD``).
"""

from trainers import promptkd

from . import config  # noqa: F401  (registers CAPT.* and SPLE.*)
from .builder import stage1_hook
from .trainer import CAPT, StackSPLE_PromptKD

if stage1_hook not in promptkd.STAGE1_HOOKS:
    promptkd.STAGE1_HOOKS.append(stage1_hook)

__all__ = ["CAPT", "StackSPLE_PromptKD", "stage1_hook"]
