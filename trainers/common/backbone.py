"""Build the frozen CLIP a trainer starts from, from its config.

One place turns ``MODEL.BACKBONE.NAME`` (or an explicit name such as a teacher's), the weights folder
(``MODEL.CLIP_WEIGHTS_DIR`` / ``CLIP_WEIGHTS_DIR`` / ``clip/``) and a precision into a model, so no
trainer carries its own ``load_clip_to_cpu``.
"""

from __future__ import annotations

import logging

import clip
from clip.config import init_draws, weights_dir
from clip.model import draw_init_like

log = logging.getLogger(__name__)


def load_clip(cfg, name: str | None = None, precision: str | None = None, build_hook=None):
    """Our CLIP on the CPU, in eval mode.

    Args:
        cfg: the run config (reads ``MODEL.BACKBONE.NAME`` and ``MODEL.CLIP_WEIGHTS_DIR``).
        name: backbone name or file path; default ``MODEL.BACKBONE.NAME``.
        precision: ``fp32`` (default), ``fp16`` or ``bf16``; ``amp`` means fp32 weights.

    With ``MODEL.CLIP_INIT_DRAWS`` (default) the global torch RNG advances as in the upstream code's
    ``load_clip_to_cpu``, so everything drawn afterwards matches a seeded upstream run; ``build_hook`` (see
    ``clip.model.CLIP``) then draws what upstream's modified CLIP draws inside its blocks.
    """
    name = name or cfg.MODEL.BACKBONE.NAME
    if not name:
        raise ValueError("MODEL.BACKBONE.NAME is empty: set it in the trainer YAML (e.g. ViT-B/16)")
    precision = "fp32" if precision in (None, "amp") else precision
    log.info(f"Loading CLIP (backbone: {name}, precision: {precision})")
    model = clip.load_model(name, device="cpu", precision=precision, weights_dir=weights_dir(cfg),
                            init_draws=init_draws(cfg), build_hook=build_hook)
    return model.eval()


def draw_upstream_copies(cfg, clip_model, count: int) -> None:
    """Draw the initialisation of ``count`` more CLIPs of ``clip_model``'s size, as the upstream trainer
    that builds that many extra copies does (with ``MODEL.CLIP_INIT_DRAWS``; nothing otherwise)."""
    if init_draws(cfg):
        for _ in range(count):
            draw_init_like(clip_model)
