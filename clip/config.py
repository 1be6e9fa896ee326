"""The config key this package owns: ``MODEL.CLIP_WEIGHTS_DIR`` (folder searched first for weights).

The hook registers only when the training engine (``dassl``) is present, so ``clip`` stays usable on
its own (e.g. to pretrain a tiny CLIP).
"""

import importlib.util


def add_clip_cfg(cfg) -> None:
    """Add ``MODEL.CLIP_WEIGHTS_DIR`` ("" = not set; then CLIP_WEIGHTS_DIR, clip/, ~/.cache/clip)."""
    from dassl.config import add_cfg_node

    add_cfg_node(cfg, "MODEL", {"CLIP_WEIGHTS_DIR": ""})


def weights_dir(cfg) -> str | None:
    """The configured weights folder, or None when the key is unset or empty."""
    model = cfg.get("MODEL", None)
    value = model.get("CLIP_WEIGHTS_DIR", "") if model is not None else ""
    return value or None


if importlib.util.find_spec("dassl") is not None:
    from dassl.config import cfg_hook

    cfg_hook(add_clip_cfg)
