"""Trainers; importing this package registers every trainer and its config keys.

``capt`` imports ``promptkd`` itself and appends its Confusion-Bank builder to PromptKD's stage-1 hooks.
"""

from trainers import (  # noqa: F401
    capt,  # CAPT (paper) and its alias StackSPLE_PromptKD
    cocoop,
    coop,
    dapt,
    dept,
    ivlp,
    kgcoop,
    prograd,
    promptkd,
    promptsrc,
    zeroshot_clip,
)
from trainers.ucp import trainers as ucp_trainers  # noqa: F401  (CaPT plugin: UCP* trainers, DeCaPT)
