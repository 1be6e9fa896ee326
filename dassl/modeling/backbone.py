"""Backbone registry (empty: CLIP trainers build their own encoders)."""

import logging

import torch.nn as nn

from dassl.utils import Registry, check_availability

log = logging.getLogger(__name__)

__all__ = ["BACKBONE_REGISTRY", "Backbone", "build_backbone"]

BACKBONE_REGISTRY = Registry("BACKBONE")


class Backbone(nn.Module):
    """Feature extractor; subclasses set ``self._out_features`` (feature size)."""

    def __init__(self):
        super().__init__()
        self._out_features = None

    @property
    def out_features(self):
        return self._out_features


def build_backbone(name, verbose=True, **kwargs):
    """Instantiate the backbone registered as ``name`` with ``kwargs``."""
    check_availability(name, BACKBONE_REGISTRY.registered_names())
    if verbose:
        log.info(f"Backbone: {name}")
    return BACKBONE_REGISTRY.get(name)(**kwargs)
