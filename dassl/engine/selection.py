"""Model-selection protocol of a run (``TEST.PROTOCOL``).

``published`` (default) follows the config as written: ``TEST.FINAL_MODEL best_val`` keeps the epoch with the
best accuracy on split ``val`` and an evaluation without ``--load-epoch`` loads ``model-best.pth.tar``. Some
published recipes (the PromptKD family) wire split ``val`` to test images, so their numbers are selected on
test data. ``clean`` never selects on test images, for every trainer of a chain alike: training deploys its
last epoch (``FINAL_MODEL`` is read as ``last_step``, no per-epoch evaluation) and loading without an epoch
takes the last epoch file (``clean=True`` of :func:`dassl.run_dir.choose_checkpoint`).
"""

from dassl.config.engine_keys import cfg_get
from dassl.run_dir import BEST_FILE, is_best_file  # noqa: F401  (re-exported: where selection code looks)

PROTOCOLS = ("published", "clean")


def protocol(cfg) -> str:
    value = cfg_get(cfg.TEST, "PROTOCOL", "published")
    if value not in PROTOCOLS:
        raise ValueError(f"TEST.PROTOCOL must be one of {list(PROTOCOLS)}, got {value!r}")
    return value


def is_clean(cfg) -> bool:
    return protocol(cfg) == "clean"


def final_model(cfg) -> str:
    """``TEST.FINAL_MODEL`` as the protocol reads it."""
    return "last_step" if is_clean(cfg) else cfg.TEST.FINAL_MODEL


def cfg_is_clean(cfg) -> bool:
    """:func:`is_clean` for objects that may carry no config (a bare Dassl ``TrainerBase``)."""
    return cfg is not None and is_clean(cfg)
