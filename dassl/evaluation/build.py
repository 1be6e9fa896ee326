"""Evaluator registry and builder."""

import logging

from dassl.utils import Registry, check_availability

log = logging.getLogger(__name__)

EVALUATOR_REGISTRY = Registry("EVALUATOR")


def build_evaluator(cfg, **kwargs):
    """Instantiate ``cfg.TEST.EVALUATOR``; ``kwargs`` (e.g. ``lab2cname``) go to its constructor."""
    name = cfg.TEST.EVALUATOR
    check_availability(name, EVALUATOR_REGISTRY.registered_names())
    if cfg.VERBOSE:
        log.info(f"Loading evaluator: {name}")
    return EVALUATOR_REGISTRY.get(name)(cfg, **kwargs)
