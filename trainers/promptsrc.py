"""PromptSRC: IVLP prompts regularised towards frozen CLIP, with Gaussian prompt aggregation.

Also the recipe of the PromptKD teacher (``vit_l14_c2_ep20_batch8_4+4ctx.yaml``, see
``scripts/promptkd/train_teacher.sh``).

Features:
    * the IVLP design of :mod:`trainers.ivlp` (keys ``TRAINER.PROMPTSRC.*``);
    * loss = CE + ``TEXT_LOSS_WEIGHT`` * L1(text, frozen text) + ``IMAGE_LOSS_WEIGHT`` * L1(image, frozen
      image) + KL(frozen logits || prompted logits); the frozen image features come from the same CLIP
      tower run without prompts (no second copy of the tower is built or saved), the frozen text features
      are the PromptSRC 60-template ensemble of the unprompted CLIP, encoded once at build time;
    * GPA: after every epoch the trainable tensors are accumulated with Gaussian weights
      (``GPA_MEAN``, ``GPA_STD``); after the last epoch the aggregate replaces them, so the last checkpoint
      and the final test use it. The running aggregate is stored in each checkpoint, so a resumed run
      keeps the epochs aggregated before the interruption.
"""

from __future__ import annotations

import logging

import torch

from clip import l2_normalize
from clip.class_text import encode_class_texts
from dassl.config import add_cfg_node, cfg_hook
from dassl.engine import TRAINER_REGISTRY
from datasets import templates as dataset_templates
from trainers.common.backbone import draw_upstream_copies
from trainers.common.base import ClipTrainer
from trainers.common.gpa import GaussianPromptAggregation, GPAHook
from trainers.common.losses import promptsrc_losses
from trainers.common.vl_prompt import VLPromptModel
from trainers.ivlp import VL_PROMPT_DEFAULTS, build_vl_prompt_model, load_prompted_backbone, load_vl_backbone

log = logging.getLogger(__name__)


@cfg_hook
def add_promptsrc_cfg(cfg) -> None:
    add_cfg_node(
        cfg,
        "TRAINER.PROMPTSRC",
        {
            "N_CTX_VISION": 4,
            "N_CTX_TEXT": 4,
            **VL_PROMPT_DEFAULTS,
            "TEXT_LOSS_WEIGHT": 25,
            "IMAGE_LOSS_WEIGHT": 10,
            "GPA_MEAN": 15,
            "GPA_STD": 1,
        },
    )


def template_ensemble_features(clip_model, classnames: list[str], templates=None) -> torch.Tensor:
    """Mean over templates (default PromptSRC's 60) of the unprompted CLIP text features (each not
    normalised), [C, D] in fp32."""
    templates = dataset_templates.PROMPTSRC_TEMPLATES if templates is None else templates
    return encode_class_texts(clip_model, templates, classnames, normalize_each=False, normalize=False)


@TRAINER_REGISTRY.register()
class PromptSRC(ClipTrainer):
    """IVLP + self-regularising constraints + GPA (see the module docstring)."""

    model_name = "VLPromptLearner"
    prec_key = "PROMPTSRC"
    data_wiring = "fork"

    def build_network(self):
        node = self.cfg.TRAINER.PROMPTSRC
        backbone = load_prompted_backbone(self, node)
        model = build_vl_prompt_model(self, node, backbone)
        clip_model = backbone[0]
        log.info(f"Encoding the frozen text targets ({len(dataset_templates.PROMPTSRC_TEMPLATES)} templates)")
        # PromptSRC encodes its targets with an fp32 CLIP, whatever the training precision. Upstream builds
        # two frozen zero-shot CLIPs here (text targets, image tower); this project reuses the backbone
        # where it can and draws the initialisation of the copies it does not build.
        text_clip = clip_model if self.weight_precision == "fp32" else load_vl_backbone(self, "fp32")
        draw_upstream_copies(self.cfg, clip_model, 2 if text_clip is clip_model else 1)
        fixed = template_ensemble_features(text_clip, self.dm.dataset.classnames)
        del text_clip
        model.register_buffer("fixed_embeddings", fixed, persistent=False)
        self.gpa = GaussianPromptAggregation(self.cfg.OPTIM.MAX_EPOCH, node.GPA_MEAN, node.GPA_STD)
        return model

    def compute_loss(self, image, label):
        model: VLPromptModel = self.model
        node = self.cfg.TRAINER.PROMPTSRC
        scale = model.logit_scale.exp()
        text = l2_normalize(model.encode_text())
        image_feat = l2_normalize(model.encode_image(image))
        logits = scale * image_feat.float() @ text.float().t()
        with torch.no_grad():
            zs_text = l2_normalize(model.fixed_embeddings)
            zs_image = l2_normalize(model.encode_image(image, prompted=False)).float()
            zs_logits = scale * zs_image @ zs_text.t()
        losses = promptsrc_losses(
            logits,
            label,
            text.float(),
            zs_text,
            image_feat.float(),
            zs_image,
            zs_logits,
            text_weight=node.TEXT_LOSS_WEIGHT,
            image_weight=node.IMAGE_LOSS_WEIGHT,
        )
        return losses, {}

    def total_loss(self, losses: dict) -> torch.Tensor:
        """``CE + ((SCL_logits + SCL_text) + SCL_image)``: the original's order of additions."""
        scl = (losses["loss_scl_logits"] + losses["loss_scl_text"]) + losses["loss_scl_image"]
        return losses["loss_ce"] + scl

    # ------------------------------------------------------------------ GPA
    def method_hooks(self):
        return [GPAHook(self.gpa)]
