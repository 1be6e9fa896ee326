"""IVLP: independent vision-language prompting (the PromptKD repository's ``IVLP`` trainer).

Features:
    * learnable text context (``N_CTX_TEXT`` tokens, initialised from ``CTX_INIT``) plus deep text
      prompts in layers ``1..PROMPT_DEPTH_TEXT-1``;
    * ``N_CTX_VISION`` vision prompt tokens appended after the patches, deep in layers
      ``1..PROMPT_DEPTH_VISION-1``;
    * cross-entropy on the prompted logits; everything else in CLIP frozen.

Flags: ``TRAINER.IVLP.{N_CTX_VISION, N_CTX_TEXT, CTX_INIT, PREC, PROMPT_DEPTH_VISION, PROMPT_DEPTH_TEXT}``.
Checkpoints go to ``<output>/VLPromptLearner/``; the final model is the last epoch. Data wiring "fork":
the val split is the test split, as in the PromptKD repository.
"""

from __future__ import annotations

import logging

import torch.nn.functional as F

from dassl.config import add_cfg_node, cfg_hook
from dassl.engine import TRAINER_REGISTRY
from trainers.common.backbone import load_clip
from trainers.common.base import ClipTrainer
from trainers.common.vl_prompt import (
    IVLPBuildDraws,
    IVLPDesign,
    VLPromptModel,
    check_input_size,
    load_prompted_clip,
)

log = logging.getLogger(__name__)

# Defaults shared by the IVLP-design nodes (IVLP uses 2+2 tokens by default; the YAMLs set 4+4).
VL_PROMPT_DEFAULTS = {
    "CTX_INIT": "a photo of a",
    "PREC": "fp16",
    "PROMPT_DEPTH_VISION": 9,
    "PROMPT_DEPTH_TEXT": 9,
}


@cfg_hook
def add_ivlp_cfg(cfg) -> None:
    add_cfg_node(cfg, "TRAINER.IVLP", {"N_CTX_VISION": 2, "N_CTX_TEXT": 2, **VL_PROMPT_DEFAULTS})


def load_vl_backbone(trainer: ClipTrainer, precision: str | None = None):
    """CLIP of ``MODEL.BACKBONE.NAME`` on the trainer's device, checked against ``INPUT.SIZE``."""
    cfg = trainer.cfg
    clip_model = load_clip(cfg, precision=precision or trainer.weight_precision).to(trainer.device)
    check_input_size(cfg, clip_model)
    return clip_model


def load_prompted_backbone(trainer: ClipTrainer, node) -> tuple[object, IVLPBuildDraws]:
    """The configured CLIP built as upstream builds its IVLP-design CLIP: the prompt tensors of config
    ``node`` are drawn in between CLIP's own initialisation draws. Returns (CLIP, the drawn prompts)."""
    design = IVLPDesign.from_cfg(node)
    return load_prompted_clip(trainer.cfg, design, trainer.device, trainer.weight_precision)


def build_vl_prompt_model(trainer: ClipTrainer, node, backbone=None) -> VLPromptModel:
    """The IVLP design of config ``node`` on ``backbone`` ((CLIP, drawn prompts); default: the configured
    backbone, built by :func:`load_prompted_backbone`), over the dataset's classes."""
    design = IVLPDesign.from_cfg(node)
    if backbone is None:
        backbone = load_prompted_clip(trainer.cfg, design, trainer.device, trainer.weight_precision)
    clip_model, drawn = backbone
    log.info(
        f"Independent V-L design: text context {design.n_ctx_text} tokens ({design.ctx_init!r}), "
        f"vision {design.n_ctx_vision} tokens, depth {design.depth_vision}/{design.depth_text}"
    )
    return VLPromptModel(clip_model, trainer.dm.dataset.classnames, design, drawn)


@TRAINER_REGISTRY.register()
class IVLP(ClipTrainer):
    """Independent V-L prompting trained with cross-entropy (see the module docstring)."""

    model_name = "VLPromptLearner"
    prec_key = "IVLP"
    data_wiring = "fork"

    def build_network(self):
        return build_vl_prompt_model(self, self.cfg.TRAINER.IVLP)

    def compute_loss(self, image, label):
        return {"loss": F.cross_entropy(self.model(image).float(), label)}, {}
