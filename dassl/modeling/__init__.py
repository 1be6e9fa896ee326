"""Backbone and head registries (the CLIP stack brings its own model code)."""

from .backbone import BACKBONE_REGISTRY, Backbone, build_backbone
from .head import HEAD_REGISTRY, build_head

__all__ = ["BACKBONE_REGISTRY", "Backbone", "HEAD_REGISTRY", "build_backbone", "build_head"]
