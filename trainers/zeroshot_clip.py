"""Zero-shot CLIP: CoOp's ``ZeroshotCLIP`` (also registered as CaPT's ``ZeroShotCLIP``) and ``ZeroshotCLIP2``.

Features:
    * frozen CLIP of ``MODEL.BACKBONE.NAME`` (fp16 weights on CUDA, fp32 on CPU);
    * class prompts from the dataset's zero-shot template (``datasets.templates``), printed as
      ``Prompts: [...]``; ``ZeroshotCLIP2`` ensembles CoOp's 7 ImageNet templates plus the dataset's own
      (except on ImageNet), L2-normalising per template, averaging and re-normalising;
    * text features are encoded once, when the trainer is built (the class set of a run is fixed);
    * logits ``s * norm(f_img) @ T^T`` with ``s = exp(logit_scale)``.

Nothing is trained and there is no checkpoint: run with ``--eval-only`` (``load_model`` is a no-op; a
``train()`` call, e.g. CaPT's runner with ``MAX_EPOCH 0``, only evaluates). Base-to-new: evaluate twice
with ``DATASET.SUBSAMPLE_CLASSES base`` and ``new``.
"""

from __future__ import annotations

import logging
import time

import torch
import torch.nn.functional as F

from clip.class_text import class_prompts, encode_class_texts
from dassl.engine import TRAINER_REGISTRY, TrainerX
from datasets import templates as dataset_templates
from datasets.templates import get_templates
from trainers.common.backbone import load_clip

log = logging.getLogger(__name__)


@TRAINER_REGISTRY.register()
class ZeroshotCLIP(TrainerX):
    """Zero-shot classification with one prompt template per dataset."""

    def prompt_templates(self) -> list[str]:
        """Templates whose (normalised) text features are averaged per class; a new list every call."""
        return [get_templates(self.cfg.DATASET.NAME).zero_shot]

    def build_model(self):
        cfg = self.cfg
        classnames = self.dm.dataset.classnames
        precision = "fp16" if self.device.type == "cuda" else "fp32"
        self.clip_model = load_clip(cfg, precision=precision).to(self.device).lock()
        templates = self.prompt_templates()
        for template in templates:
            log.info(f"Prompts: {class_prompts([template], classnames)}")
        self.text_features = encode_class_texts(self.clip_model, templates, classnames, device=self.device)
        self.logit_scale = self.clip_model.logit_scale.detach().exp().float()

    @torch.no_grad()
    def model_inference(self, image):
        features = F.normalize(self.clip_model.encode_image(image).float(), dim=-1)
        return self.logit_scale * features @ self.text_features.t()

    def load_model(self, directory, epoch=None):
        log.info("Zero-shot CLIP has no trained weights; nothing to load")

    def train(self):
        """Nothing to train: evaluate the model as built (keeps the usual end-of-training log lines)."""
        self.time_start = time.time()
        self.after_train()


# CaPT's name for the same trainer (its configs live in configs/trainers/ZeroShotCLIP/). The class object is
# registered under both names so that configs and checks treat them as one trainer.
ZeroShotCLIP = ZeroshotCLIP
TRAINER_REGISTRY._do_register("ZeroShotCLIP", ZeroshotCLIP)


@TRAINER_REGISTRY.register()
class ZeroshotCLIP2(ZeroshotCLIP):
    """Prompt ensemble: CoOp's 7 ImageNet templates, plus the dataset's own template unless ImageNet."""

    def prompt_templates(self) -> list[str]:
        templates = list(dataset_templates.SIMPLE_IMAGENET_TEMPLATES)  # read from open_clip when needed
        if self.cfg.DATASET.NAME != "ImageNet":
            templates.append(get_templates(self.cfg.DATASET.NAME).zero_shot)
        return templates
