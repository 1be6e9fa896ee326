"""Model-selection protocol of a run (``TEST.PROTOCOL``).

``published`` (default) follows the config as written: ``TEST.FINAL_MODEL best_val`` keeps the epoch with the
best accuracy on split ``val`` and an evaluation without ``--load-epoch`` loads ``model-best.pth.tar``. Some
published recipes (the PromptKD family) wire split ``val`` to test images, so their numbers are selected on
test data. ``clean`` never selects on test images, for every trainer of a chain alike: training deploys its
last epoch (``FINAL_MODEL`` is read as ``last_step``, no per-epoch evaluation) and loading without an epoch
takes the last epoch file (``clean=True`` of :func:`dassl.run_dir.choose_checkpoint`).
"""

from dassl.config.engine_keys import cfg_get

PROTOCOLS = ("published", "clean")


def protocol(cfg) -> str:
    value = cfg_get(cfg.TEST, "PROTOCOL", "published")
    if value not in PROTOCOLS:
        raise ValueError(f"TEST.PROTOCOL must be one of {list(PROTOCOLS)}, got {value!r}")
    return value


def is_clean(cfg) -> bool:
    """True under ``TEST.PROTOCOL clean``; False for objects that carry no config (a bare ``TrainerBase``)."""
    return cfg is not None and protocol(cfg) == "clean"


def final_model(cfg) -> str:
    """``TEST.FINAL_MODEL`` as the protocol reads it."""
    return "last_step" if is_clean(cfg) else cfg.TEST.FINAL_MODEL
