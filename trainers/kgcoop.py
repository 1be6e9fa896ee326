"""KgCoOp: knowledge-guided context optimisation (the CaPT repository's ``KgCoOp`` trainer).

Features:
    * CoOp prompts ``[SOS] ctx <name> . [EOT]``; a non-empty ``CTX_INIT`` always means the 4 tokens of
      "a photo of a" (as in the reference code), otherwise ``N_CTX`` random tokens (class-specific with
      ``CSC``);
    * frozen text anchors ``t0_c`` = normalised CLIP features of the dataset's KgCoOp template
      (e.g. DTD "a photo of a {}, a type of texture."), recomputed for every class list, never saved;
    * loss ``CE(logits, y) + W * (1 - mean_c cos(t_c, t0_c))``; inference uses the logits only.

Flags: ``TRAINER.KGCOOP.{N_CTX, CSC, CTX_INIT, CLASS_TOKEN_POSITION, W}``, ``TRAINER.PREC``. Checkpoints:
``<output>/learnable_params/``; ``prompt_learner.bias_vectors`` and ``prompt_learner.meta_net.linear1`` exist
only so the keys match published checkpoints (never trained).
"""

from __future__ import annotations

import logging
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from clip.class_text import class_prompts, encode_class_texts
from dassl.config import add_cfg_node, cfg_hook
from dassl.engine import TRAINER_REGISTRY
from datasets.templates import get_templates
from trainers.common.coop_prompt import CoOpPromptLearner
from trainers.common.learnable_params import (
    LearnableParamsNetwork,
    LearnableParamsTrainer,
    check_end_position,
    coop_text_features,
)

log = logging.getLogger(__name__)

INIT_PHRASE = "a photo of a"


@cfg_hook
def add_kgcoop_cfg(cfg) -> None:
    add_cfg_node(cfg, "TRAINER.KGCOOP", {
        "N_CTX": 4, "CSC": False, "CTX_INIT": "a photo of a", "CLASS_TOKEN_POSITION": "end", "W": 1.5,
    })


def build_kgcoop_learner(clip_model, classnames: list[str], node) -> CoOpPromptLearner:
    """KgCoOp's prompt learner (``node`` = ``cfg.TRAINER.KGCOOP``) plus its two checkpoint-only modules."""
    check_end_position(node.CLASS_TOKEN_POSITION, "TRAINER.KGCOOP.CLASS_TOKEN_POSITION")
    learner = CoOpPromptLearner(classnames, clip_model, n_ctx=int(node.N_CTX),
                                ctx_init=INIT_PHRASE if node.CTX_INIT else "", csc=bool(node.CSC))
    dim = clip_model.text_projection.shape[1]
    learner.bias_vectors = nn.Parameter(torch.empty(1, dim, dtype=clip_model.dtype).normal_(std=0.02))
    learner.meta_net = nn.Sequential(OrderedDict([("linear1", nn.Linear(dim, dim)), ("relu", nn.ReLU())]))
    learner.meta_net.to(clip_model.dtype)
    return learner


def text_anchors(clip_model, classnames: list[str], template: str) -> torch.Tensor:
    """Normalised frozen-CLIP text features [C, D] (fp32) of ``template`` filled with each class name."""
    log.info(f"Prompts: {class_prompts([template], classnames)}")
    return encode_class_texts(clip_model, template, classnames, normalize_each=False)


def knowledge_gap(text_feats: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """``1 - mean_c cos(t_c, t0_c)`` (scale-free, so raw or normalised features give the same value)."""
    return 1.0 - F.cosine_similarity(text_feats.float(), anchors.float(), dim=1, eps=1e-7).mean()


class KgCoOpNetwork(LearnableParamsNetwork):
    """Frozen CLIP, KgCoOp prompt learner, and the anchors of the current class list (``anchors``)."""

    inert = ("prompt_learner.bias_vectors", "prompt_learner.meta_net")

    def __init__(self, clip_model, classnames, node, template: str, names_to_update=("learnable_params",)):
        super().__init__(clip_model, names_to_update)
        self.learnable_params["prompt_learner"] = build_kgcoop_learner(clip_model, classnames, node)
        self.anchors = text_anchors(clip_model, classnames, template)

    def text_features(self):
        return coop_text_features(self.clip, self.prompt_learner)


@TRAINER_REGISTRY.register()
class KgCoOp(LearnableParamsTrainer):
    """KgCoOp (see the module docstring)."""

    def build_network(self):
        cfg = self.cfg
        template = get_templates(cfg.DATASET.NAME).kgcoop
        return KgCoOpNetwork(self.load_backbone(), self.dm.dataset.classnames, cfg.TRAINER.KGCOOP, template,
                             cfg.TRAINER.NAMES_TO_UPDATE)

    def compute_loss(self, image, label):
        image_feats = self.model.image_features(image)
        text_feats = self.model.text_features()
        logits = self.model.similarity_logits(image_feats, text_feats)
        losses = {
            "loss_ce": self.classification_loss(logits, label),
            "loss_kg": self.cfg.TRAINER.KGCOOP.W * knowledge_gap(text_feats, self.model.anchors),
        }
        return losses, {"acc": self.accuracy(logits, label)}
