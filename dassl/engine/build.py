"""Trainer registry and builder."""

import logging

from dassl.utils import Registry, check_availability

log = logging.getLogger(__name__)

TRAINER_REGISTRY = Registry("TRAINER")


def build_trainer(cfg, name=None):
    """Instantiate trainer ``name`` (default ``cfg.TRAINER.NAME``) with ``cfg``.

    ``name`` lets a trainer build an auxiliary trainer from the same config.
    """
    name = name or cfg.TRAINER.NAME
    check_availability(name, TRAINER_REGISTRY.registered_names())
    if cfg.VERBOSE:
        log.info(f"Loading trainer: {name}")
    return TRAINER_REGISTRY.get(name)(cfg)
