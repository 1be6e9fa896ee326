"""Config-driven image transforms."""

from .transforms import AVAI_CHOICES, CLIP_PIXEL_MEAN, CLIP_PIXEL_STD, INTERPOLATION_MODES, build_transform

__all__ = ["AVAI_CHOICES", "CLIP_PIXEL_MEAN", "CLIP_PIXEL_STD", "INTERPOLATION_MODES", "build_transform"]
