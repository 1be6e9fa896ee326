"""The mean/std that ``normalize`` uses: the config's, else the statistics stored with the backbone's weights.

``INPUT.PIXEL_MEAN`` / ``INPUT.PIXEL_STD`` default to ``[]``, meaning "unset". A value set anywhere (a YAML
file, a ``KEY VALUE`` override) always wins. An unset value comes from the first registered source that
knows the backbone (``clip`` registers one: OpenAI's statistics for OpenAI's models, a toy model's from
its record); when none does (Dassl's own backbones, no backbone), Dassl's ImageNet statistics are used,
as in upstream Dassl. ``train.py`` fills the unset values in before the config is frozen, so the saved
config of a run states the numbers it used.
"""

from __future__ import annotations

__all__ = ["IMAGENET_PIXEL_MEAN", "IMAGENET_PIXEL_STD", "pixel_stats", "pixel_stats_source",
           "resolve_pixel_stats"]

# Dassl's defaults, for backbones whose weights carry no statistics.
IMAGENET_PIXEL_MEAN = [0.485, 0.456, 0.406]
IMAGENET_PIXEL_STD = [0.229, 0.224, 0.225]

_SOURCES = {}


def pixel_stats_source(fn):
    """Register ``fn(cfg) -> (mean, std) | None`` (None: not my backbone); returns ``fn`` unchanged.

    Re-registering the same function (same module and qualified name) replaces it.
    """
    if not callable(fn):
        raise TypeError(f"pixel_stats_source expects a function taking the config, got {fn!r}")
    _SOURCES[f"{fn.__module__}.{fn.__qualname__}"] = fn
    return fn


def _backbone_stats(cfg) -> tuple[list[float], list[float]]:
    for source in list(_SOURCES.values()):
        found = source(cfg)
        if found is not None:
            mean, std = found
            return [float(v) for v in mean], [float(v) for v in std]
    return list(IMAGENET_PIXEL_MEAN), list(IMAGENET_PIXEL_STD)


def pixel_stats(cfg) -> tuple[list[float], list[float]]:
    """(mean, std) for ``normalize``: each from ``cfg.INPUT`` when set, else from the backbone."""
    mean, std = list(cfg.INPUT.PIXEL_MEAN), list(cfg.INPUT.PIXEL_STD)
    if not mean or not std:
        weights_mean, weights_std = _backbone_stats(cfg)
        mean, std = mean or weights_mean, std or weights_std
    return mean, std


def resolve_pixel_stats(cfg):
    """Write the resolved mean/std into ``cfg.INPUT`` (which must not be frozen); returns ``cfg``."""
    cfg.INPUT.PIXEL_MEAN, cfg.INPUT.PIXEL_STD = pixel_stats(cfg)
    return cfg
