"""CoOp: context optimisation (the CoOp repository's ``CoOp`` trainer).

Features:
    * prompts ``[SOS] ctx <name> . [EOT]`` with ``N_CTX`` learnable context tokens (initialised from
      ``CTX_INIT`` when given, then ``N_CTX`` = its word count), shared by all classes or class-specific
      (``CSC``), class name at the ``end``, ``middle`` or ``front`` (``CLASS_TOKEN_POSITION``);
    * frozen CLIP; logits ``s * norm(f) @ norm(t)^T``; cross-entropy; logs ``loss`` and ``acc``;
    * class text features are encoded once per evaluation, not per test batch.

Flags: ``TRAINER.COOP.{N_CTX, CSC, CTX_INIT, PREC, CLASS_TOKEN_POSITION}`` (this module owns the node;
KgCoOp-style trainers of other repositories read it too). Checkpoints: ``<output>/prompt_learner/`` holding
``ctx``, ``token_prefix``, ``token_suffix`` (the two buffers are dropped on load, so a base-trained model
evaluates on new classes). ``MODEL.INIT_WEIGHTS`` initialises the prompt learner from a checkpoint.
"""

from __future__ import annotations

import logging

import torch.nn.functional as F
from torch import nn

from dassl.config import add_cfg_node, cfg_hook
from dassl.engine import TRAINER_REGISTRY
from dassl.utils import load_pretrained_weights
from trainers.common.base import ClipTrainer, EvalCacheMixin
from trainers.common.coop_prompt import build_coop_prompt_learner, cosine_logits
from trainers.common.vl_prompt import check_input_size

log = logging.getLogger(__name__)


@cfg_hook
def add_coop_cfg(cfg) -> None:
    add_cfg_node(cfg, "TRAINER.COOP", {
        "N_CTX": 16,  # context tokens when CTX_INIT is empty
        "CSC": False,  # class-specific context
        "CTX_INIT": "",  # init phrase, e.g. "a photo of a" (sets N_CTX to its word count)
        "PREC": "fp16",  # fp16 (half CLIP weights on CUDA) | fp32 | amp
        "CLASS_TOKEN_POSITION": "end",  # end | middle | front
    })


def load_frozen_clip(trainer: ClipTrainer):
    """CLIP of ``MODEL.BACKBONE.NAME`` on the trainer's device (fp16 weights only with PREC fp16 on CUDA),
    checked against ``INPUT.SIZE``."""
    from trainers.common.backbone import load_clip

    cfg = trainer.cfg
    clip_model = load_clip(cfg, precision=trainer.weight_precision).to(trainer.device)
    if hasattr(clip_model.visual, "input_resolution"):
        check_input_size(cfg, clip_model)
    return clip_model


class FrozenClipPromptNetwork(nn.Module):
    """A frozen CLIP (``clip``, always in eval mode) and a prompt learner (``prompt_learner``), whose
    parameters are the trainable ones."""

    def __init__(self, clip_model, prompt_learner: nn.Module):
        super().__init__()
        self.clip = clip_model.lock()
        self.prompt_learner = prompt_learner

    def train(self, mode: bool = True):
        super().train(mode)
        self.clip.eval()
        return self

    def trainable_params(self) -> list[nn.Parameter]:
        return list(self.prompt_learner.parameters())


class CoOpNetwork(EvalCacheMixin, FrozenClipPromptNetwork):
    """A frozen CLIP and a CoOp prompt learner; class text features are cached while evaluating."""

    def image_features(self, image):
        return self.clip.encode_image(image.to(self.clip.dtype))

    def text_features(self):
        """Class text features [C, D] from the learnt context (not normalised)."""
        return self.prompt_learner.encode(self.clip, self.prompt_learner())

    def forward(self, image):
        text = self.cached("text", self.text_features)
        return cosine_logits(self.image_features(image), text, self.clip.logit_scale)


@TRAINER_REGISTRY.register()
class CoOp(ClipTrainer):
    """CoOp (see the module docstring): only ``prompt_learner`` is optimised and checkpointed."""

    model_name = "prompt_learner"
    prec_key = "COOP"

    def check_cfg(self, cfg):
        position = cfg.TRAINER.COOP.CLASS_TOKEN_POSITION
        if position not in ("end", "middle", "front"):
            raise ValueError(f"TRAINER.COOP.CLASS_TOKEN_POSITION must be end, middle or front, "
                             f"got {position!r}")
        super().check_cfg(cfg)

    def build_network(self) -> CoOpNetwork:
        clip_model = load_frozen_clip(self)
        log.info("Building custom CLIP")
        learner = build_coop_prompt_learner(self.cfg.TRAINER.COOP, self.dm.dataset.classnames, clip_model)
        if self.cfg.MODEL.INIT_WEIGHTS:
            load_pretrained_weights(learner, self.cfg.MODEL.INIT_WEIGHTS)
        return CoOpNetwork(clip_model, learner)

    def registered_module(self) -> nn.Module:
        return self.model.prompt_learner

    def load_model(self, directory, epoch=None):
        node = self.cfg.TRAINER.COOP
        class_specific = node.CSC and not node.CTX_INIT
        if directory and class_specific and self.cfg.DATASET.get("SUBSAMPLE_CLASSES") == "new":
            raise ValueError("TRAINER.COOP.CSC True learns one context per training class, so a model "
                             "cannot be evaluated on other classes (DATASET.SUBSAMPLE_CLASSES new)")
        super().load_model(directory, epoch)

    def compute_loss(self, image, label):
        logits = self.model(image).float()
        return {"loss": F.cross_entropy(logits, label)}, {"acc": self.accuracy(logits, label)}
