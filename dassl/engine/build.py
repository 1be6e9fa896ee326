"""Trainer registry and builder."""

from dassl.utils import Registry, check_availability

TRAINER_REGISTRY = Registry("TRAINER")


def build_trainer(cfg, name=None):
    """Instantiate trainer ``name`` (default ``cfg.TRAINER.NAME``) with ``cfg``.

    ``name`` lets a trainer build an auxiliary trainer from the same config.
    """
    name = name or cfg.TRAINER.NAME
    check_availability(name, TRAINER_REGISTRY.registered_names())
    if cfg.VERBOSE:
        print(f"Loading trainer: {name}")
    return TRAINER_REGISTRY.get(name)(cfg)
