"""KgCoOp: knowledge-guided context optimisation (the ``KgCoOp`` trainer of the KgCoOp, DePT and CaPT
repositories).

Features:
    * CoOp prompts ``[SOS] ctx <name> . [EOT]``; a non-empty ``CTX_INIT`` always means the 4 tokens of
      "a photo of a" (as in the reference code), otherwise ``N_CTX`` random tokens (class-specific with
      ``CSC``);
    * frozen text anchors ``t0_c`` = normalised CLIP features of the dataset's KgCoOp template
      (e.g. DTD "a photo of a {}, a type of texture."), recomputed for every class list, never saved. They
      are encoded in fp16 whatever ``PREC`` is, as the reference code's separate half-precision CLIP does;
    * loss ``CE(logits, y) + W * (1 - mean_c cos(t_c, t0_c))``; inference uses the logits only.

Two config layouts, as published:
    * CaPT repository: ``TRAINER.KGCOOP.{N_CTX, CSC, CTX_INIT, CLASS_TOKEN_POSITION, W}`` and
      ``TRAINER.PREC``; checkpoints in ``<output>/learnable_params/`` (keys ``prompt_learner.*``);
    * KgCoOp and DePT repositories: the same keys under ``TRAINER.COOP`` (``PREC`` included). Setting
      ``TRAINER.COOP.W`` (their loss weight, e.g. ``8.0`` in the KgCoOp scripts) selects this layout;
      checkpoints in ``<output>/prompt_learner/`` (keys ``ctx``, ``bias_vectors``, ...).

``bias_vectors`` and ``meta_net.linear1`` exist only so the keys match published checkpoints (never
trained); they, the reference code's unused adapter and its second CLIP are drawn from the global RNG in
the reference order, so a seeded run equals the original one (``MODEL.CLIP_INIT_DRAWS``).
"""

from __future__ import annotations

import copy
import logging
from collections import OrderedDict

import torch
from torch import nn

from clip import TextEncoder, l2_normalize, tokenize
from clip.class_text import class_prompts, model_device
from clip.model import convert_weights
from dassl.config import add_cfg_node, cfg_hook
from dassl.engine import TRAINER_REGISTRY
from datasets.templates import get_templates
from trainers.common.backbone import draw_upstream_copies
from trainers.common.coop_prompt import CoOpPromptLearner
from trainers.common.learnable_params import (
    LearnableParamsNetwork,
    LearnableParamsTrainer,
    check_end_position,
    coop_text_features,
)

log = logging.getLogger(__name__)

INIT_PHRASE = "a photo of a"
# Width of the unused modules: the reference code sizes them at 512 whatever the backbone, so checkpoint
# shapes and random draws match it.
UNUSED_WIDTH = 512


@cfg_hook
def add_kgcoop_cfg(cfg) -> None:
    add_cfg_node(cfg, "TRAINER.KGCOOP", {
        "N_CTX": 4, "CSC": False, "CTX_INIT": "a photo of a", "CLASS_TOKEN_POSITION": "end", "W": 1.5,
    })
    # The KgCoOp repository's loss weight; set (not None) = its TRAINER.COOP layout (module docstring).
    add_cfg_node(cfg, "TRAINER.COOP", {"W": None})


def uses_coop_layout(cfg) -> bool:
    """Whether ``cfg`` is written in the KgCoOp/DePT repositories' layout (``TRAINER.COOP.W`` is set)."""
    return cfg.TRAINER.get("COOP", {}).get("W") is not None


def kgcoop_node(cfg) -> tuple[str, object]:
    """(dotted name, node) of the config node holding KgCoOp's settings (``N_CTX``, ``CSC``, ``W``, ...)."""
    if uses_coop_layout(cfg):
        return "TRAINER.COOP", cfg.TRAINER.COOP
    return "TRAINER.KGCOOP", cfg.TRAINER.KGCOOP


def refuse_coop_layout(cfg, trainer_name: str) -> None:
    """For the CaPT-repository trainers built on KgCoOp, which read only ``TRAINER.KGCOOP``."""
    if uses_coop_layout(cfg):
        raise ValueError(f"TRAINER.COOP.W = {cfg.TRAINER.COOP.W!r} selects the KgCoOp repository's config "
                         f"layout, which {trainer_name} (a CaPT-repository trainer) does not read: set "
                         "TRAINER.KGCOOP.W instead")


def build_kgcoop_learner(clip_model, classnames: list[str], cfg) -> CoOpPromptLearner:
    """KgCoOp's prompt learner plus its two checkpoint-only modules, drawn in the reference order: context,
    ``bias_vectors``, the separate anchor CLIP (with ``MODEL.CLIP_INIT_DRAWS``), ``meta_net``."""
    key, node = kgcoop_node(cfg)
    check_end_position(node.CLASS_TOKEN_POSITION, f"{key}.CLASS_TOKEN_POSITION")
    learner = CoOpPromptLearner(classnames, clip_model, n_ctx=int(node.N_CTX),
                                ctx_init=INIT_PHRASE if node.CTX_INIT else "", csc=bool(node.CSC))
    bias = torch.empty(1, UNUSED_WIDTH, dtype=clip_model.dtype).normal_(std=0.02)
    learner.bias_vectors = nn.Parameter(bias)
    draw_upstream_copies(cfg, clip_model, 1)
    # fp16 as in the reference code (it halves this unused module whatever the precision).
    learner.meta_net = nn.Sequential(OrderedDict([("linear1", nn.Linear(UNUSED_WIDTH, UNUSED_WIDTH)),
                                                  ("relu", nn.ReLU())])).half()
    return learner


def draw_unused_adapter() -> None:
    """Draw the initialisation of the reference network's adapter (512 -> 128 -> 512, no biases), which it
    builds and never uses; only the random streams after it need it."""
    nn.Linear(UNUSED_WIDTH, UNUSED_WIDTH // 4, bias=False)
    nn.Linear(UNUSED_WIDTH // 4, UNUSED_WIDTH, bias=False)


def half_precision_text_tower(clip_model) -> TextEncoder:
    """The text tower of ``clip_model`` in fp16 (OpenAI's mixed layout): the tower itself when its weights
    are fp16, else a copy of the tower only (the image tower is not needed for class texts)."""
    tower = TextEncoder(clip_model)
    if tower.dtype == torch.float16:
        return tower
    return convert_weights(copy.deepcopy(tower), torch.float16)


@torch.no_grad()
def kgcoop_anchors(clip_model, classnames: list[str], template: str) -> torch.Tensor:
    """KgCoOp's anchors [C, D] in fp16, unit rows ready for :func:`knowledge_gap`.

    The reference code encodes them in one pass with a separate CLIP that stays in half precision whatever
    ``PREC`` says, normalises them in fp16 when building and again in every forward, and
    ``cosine_similarity`` normalises them a third time in their own precision; all three happen here, once."""
    texts = class_prompts([template], classnames)
    log.info(f"Prompts: {texts}")
    tokens = tokenize(texts, context_length=clip_model.context_length).to(model_device(clip_model))
    embeddings = clip_model.token_embedding(tokens).to(torch.float16)
    feats = half_precision_text_tower(clip_model)(embeddings, tokens.argmax(dim=-1))
    return unit_rows(l2_normalize(l2_normalize(feats)))


def unit_rows(x: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """``x / max(||x||, eps)`` per row: how ``cosine_similarity`` normalises each of its inputs."""
    return x / torch.linalg.vector_norm(x, dim=-1, keepdim=True).clamp_min(eps)


def knowledge_gap(text_unit: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """``1 - mean_c cos(t_c, t0_c)`` in fp32, from the normalised text features the logits use and the
    anchors of :func:`kgcoop_anchors`. Written out (not ``cosine_similarity``) so that the fp16 anchors are
    not normalised once more in fp32: the reference values, slightly above 1 at the start where the prompt
    equals the anchor sentence (a small negative gap), are kept."""
    return 1.0 - (unit_rows(text_unit.float()) * anchors.float()).sum(dim=-1).mean()


class KgCoOpNetwork(LearnableParamsNetwork):
    """Frozen CLIP, KgCoOp prompt learner, and the anchors of the current class list (``anchors``)."""

    inert = ("prompt_learner.bias_vectors", "prompt_learner.meta_net")

    def __init__(self, clip_model, classnames, cfg):
        super().__init__(clip_model, cfg.TRAINER.NAMES_TO_UPDATE)
        self.learnable_params["prompt_learner"] = build_kgcoop_learner(clip_model, classnames, cfg)
        draw_unused_adapter()
        self.anchors = kgcoop_anchors(clip_model, classnames, get_templates(cfg.DATASET.NAME).kgcoop)

    def text_features(self):
        return coop_text_features(self.clip, self.prompt_learner)


@TRAINER_REGISTRY.register()
class KgCoOp(LearnableParamsTrainer):
    """KgCoOp (see the module docstring)."""

    def check_cfg(self, cfg):
        if uses_coop_layout(cfg):  # the KgCoOp/DePT repositories: TRAINER.COOP.PREC, prompt_learner/
            if self.plugin_type is not None:  # its meta-net would not be saved under prompt_learner/
                refuse_coop_layout(cfg, type(self).__name__)
            self.prec_key, self.model_name = "COOP", "prompt_learner"
        super().check_cfg(cfg)

    def build_network(self):
        return KgCoOpNetwork(self.load_backbone(), self.dm.dataset.classnames, self.cfg)

    def registered_module(self):
        if self.model_name == "prompt_learner":
            return self.model.prompt_learner
        return super().registered_module()

    def compute_loss(self, image, label):
        # One normalised text tensor feeds both terms, so their gradients meet where the reference's do.
        image_unit = l2_normalize(self.model.image_features(image))
        text_unit = l2_normalize(self.model.text_features())
        logits = self.model.unit_logits(image_unit, text_unit)
        losses = {
            "loss_ce": self.classification_loss(logits, label),
            "loss_kg": kgcoop_node(self.cfg)[1].W * knowledge_gap(text_unit, self.model.anchors),
        }
        return losses, {"acc": self.accuracy(logits, label)}
