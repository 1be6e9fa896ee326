"""CoCoOp: conditional context optimisation (the CoOp repository's ``CoCoOp`` trainer).

Features:
    * CoOp prompts (class name at the end) whose context is shifted per image:
      ``ctx_i = ctx + pi_i`` on every context token, ``pi_i = meta_net(norm(f_i))``;
    * ``meta_net`` = ``linear1`` (D -> D//16), ``relu``, ``linear2`` (D//16 -> text width), in the CLIP
      dtype (half with PREC fp16 on CUDA);
    * per image, the prompts of all C classes go through the frozen text tower (cost grows with B x C; the
      text features cannot be cached); logits ``s * norm(f_i) @ norm(t_i)^T``; cross-entropy; logs ``loss``.

Flags: ``TRAINER.COCOOP.{N_CTX, CTX_INIT, PREC}``. Checkpoints: ``<output>/prompt_learner/`` holding ``ctx``,
``meta_net.linear{1,2}.*`` and the class-dependent ``token_prefix``/``token_suffix`` (dropped on load).
"""

from __future__ import annotations

import logging
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from clip import l2_normalize
from dassl.config import add_cfg_node, cfg_hook
from dassl.engine import TRAINER_REGISTRY
from dassl.utils import load_pretrained_weights
from trainers.common.base import ClipTrainer
from trainers.common.coop_prompt import CoOpPromptLearner, cosine_logits
from trainers.coop import FrozenClipPromptNetwork, load_frozen_clip

log = logging.getLogger(__name__)

# Prompts per text-tower pass at evaluation (whole images are grouped; each pass holds >= C prompts).
EVAL_TEXT_SEQUENCES = 1000


@cfg_hook
def add_cocoop_cfg(cfg) -> None:
    add_cfg_node(cfg, "TRAINER.COCOOP", {
        "N_CTX": 16,  # context tokens when CTX_INIT is empty
        "CTX_INIT": "",  # init phrase (sets N_CTX to its word count)
        "PREC": "fp16",  # fp16 | fp32 | amp
    })


def build_meta_net(vis_dim: int, ctx_dim: int, reduction: int = 16) -> nn.Sequential:
    """CoCoOp's bottleneck MLP, with the published submodule names ``linear1``, ``relu``, ``linear2``."""
    hidden = vis_dim // reduction
    if hidden < 1:
        raise ValueError(f"image feature size {vis_dim} is too small for a 1/{reduction} bottleneck")
    return nn.Sequential(OrderedDict([
        ("linear1", nn.Linear(vis_dim, hidden)),
        ("relu", nn.ReLU(inplace=True)),
        ("linear2", nn.Linear(hidden, ctx_dim)),
    ]))


class CoCoOpPromptLearner(CoOpPromptLearner):
    """A generic CoOp learner (``end`` position) plus the image-conditioning ``meta_net``.

    Args:
        classnames, clip_model, n_ctx, ctx_init, init_std: as :class:`CoOpPromptLearner`.
    """

    def __init__(self, classnames: list[str], clip_model, n_ctx: int = 16, ctx_init: str = "",
                 init_std: float = 0.02):
        super().__init__(classnames, clip_model, n_ctx=n_ctx, ctx_init=ctx_init, csc=False,
                         class_token_position="end", init_std=init_std)
        vis_dim = int(getattr(clip_model.visual, "output_dim", clip_model.text_projection.shape[1]))
        self.meta_net = build_meta_net(vis_dim, self.ctx_dim).to(clip_model.dtype)

    def image_prompts(self, image_features: torch.Tensor) -> torch.Tensor:
        """Normalised image features [B, D] -> prompt embeddings [B, C, L, W] with ``ctx + meta_net(f_i)``."""
        offsets = self.meta_net(image_features.to(self.ctx.dtype))
        return self.build_prompts(self.image_context(offsets))


class CoCoOpNetwork(FrozenClipPromptNetwork):
    """A frozen CLIP and a :class:`CoCoOpPromptLearner`; ``eval_text_sequences`` bounds the prompts per text
    pass while evaluating."""

    def __init__(self, clip_model, prompt_learner: CoCoOpPromptLearner, eval_text_sequences: int = 0):
        super().__init__(clip_model, prompt_learner)
        self.eval_text_sequences = eval_text_sequences

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Logits [B, C]; one text pass per image while training (the published memory profile)."""
        feats = self.clip.encode_image(image.to(self.clip.dtype))
        prompts = self.prompt_learner.image_prompts(l2_normalize(feats))
        group = 0 if (self.training or torch.is_grad_enabled()) else self.eval_text_sequences
        text = self.prompt_learner.encode(self.clip, prompts, max_sequences=group)
        return cosine_logits(feats, text, self.clip.logit_scale)  # normalises feats once, as above


@TRAINER_REGISTRY.register()
class CoCoOp(ClipTrainer):
    """CoCoOp (see the module docstring): ``prompt_learner`` (context + meta-net) is optimised and saved."""

    model_name = "prompt_learner"
    prec_key = "COCOOP"

    def build_network(self) -> CoCoOpNetwork:
        node = self.cfg.TRAINER.COCOOP
        clip_model = load_frozen_clip(self)
        log.info("Building custom CLIP")
        learner = CoCoOpPromptLearner(self.dm.dataset.classnames, clip_model, n_ctx=int(node.N_CTX),
                                      ctx_init=str(node.CTX_INIT or ""))
        if self.cfg.MODEL.INIT_WEIGHTS:
            load_pretrained_weights(learner, self.cfg.MODEL.INIT_WEIGHTS)
        return CoCoOpNetwork(clip_model, learner, eval_text_sequences=EVAL_TEXT_SEQUENCES)

    def registered_module(self) -> nn.Module:
        return self.model.prompt_learner

    def compute_loss(self, image, label):
        logits = self.model(image).float()
        return {"loss": F.cross_entropy(logits, label)}, {}
