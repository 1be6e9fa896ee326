"""The config keys this package owns, and the normalisation statistics of ``MODEL.BACKBONE.NAME``'s weights
for an unset ``INPUT.PIXEL_MEAN/STD``.

``MODEL.CLIP_WEIGHTS_DIR``: folder searched first for weights.
``MODEL.CLIP_INIT_DRAWS``: whether building a CLIP draws OpenAI's random initialisation from the global
torch RNG before the weights overwrite it (True, the default). Upstream code builds CLIP through OpenAI's
constructor, so only with these draws does a seeded run see the same random numbers afterwards (prompt
initialisation, data order, augmentation) as the upstream run. False builds on the meta device and draws
nothing: faster start-up (a few seconds per ViT-B/16 build on a CPU core, more for ViT-L/14), other random
streams.

Both register only when the training engine (``dassl``) is present, so ``clip`` stays usable on its own
(e.g. to pretrain a tiny CLIP).
"""

import importlib.util


def add_clip_cfg(cfg) -> None:
    """Add ``MODEL.CLIP_WEIGHTS_DIR`` ("" = not set; then CLIP_WEIGHTS_DIR, clip/, ~/.cache/clip) and
    ``MODEL.CLIP_INIT_DRAWS``."""
    from dassl.config import add_cfg_node

    add_cfg_node(cfg, "MODEL", {"CLIP_WEIGHTS_DIR": "", "CLIP_INIT_DRAWS": True})


def weights_dir(cfg) -> str | None:
    """The configured weights folder, or None when the key is unset or empty."""
    model = cfg.get("MODEL", None)
    value = model.get("CLIP_WEIGHTS_DIR", "") if model is not None else ""
    return value or None


def backbone_pixel_stats(cfg):
    """(mean, std) stored with the CLIP weights ``MODEL.BACKBONE.NAME`` names (see :mod:`clip.preprocess`);
    None for no backbone or one of Dassl's registered (non-CLIP) backbones."""
    from clip.loader import pixel_stats
    from dassl.modeling import BACKBONE_REGISTRY

    name = str(cfg.MODEL.BACKBONE.NAME)
    if not name or name in BACKBONE_REGISTRY.registered_names():
        return None
    return pixel_stats(name, weights_dir(cfg))


def init_draws(cfg) -> bool:
    """``MODEL.CLIP_INIT_DRAWS`` (True when the key is absent); anything but a bool is an error."""
    model = cfg.get("MODEL", None)
    value = model.get("CLIP_INIT_DRAWS", True) if model is not None else True
    if not isinstance(value, bool):
        raise ValueError(f"MODEL.CLIP_INIT_DRAWS must be True or False, got {value!r}")
    return value


if importlib.util.find_spec("dassl") is not None:
    from dassl.config import cfg_hook, pixel_stats_source

    cfg_hook(add_clip_cfg)
    pixel_stats_source(backbone_pixel_stats)
