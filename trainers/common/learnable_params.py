"""A frozen CLIP plus one ``learnable_params`` module dict: the network and trainer base of the baselines
that come from the CaPT repository.

KgCoOp, ProGrad, DAPT and KgCoOpDePT (and their +CaPT versions, which only add a plug-in) keep every
trainable piece in ``learnable_params`` (an ``nn.ModuleDict``: ``prompt_learner``, ``film_img``,
``film_text``, ``classifier``), which is the registered model and so the checkpoint folder
``<run>/learnable_params/``. Config keys of that repository that are not tied to one method
(``TRAINER.PREC``, ``TRAINER.NAMES_TO_UPDATE``) are declared here. Nothing here knows about CaPT: its
meta-net reaches the prompts through the prompt learners' offsets slot (``trainers.common.class_offsets``).
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

from clip import l2_normalize, tokenize
from dassl.config import add_cfg_node, cfg_hook
from trainers.common.base import ClipTrainer, EvalCacheMixin


@cfg_hook
def add_capt_repo_cfg(cfg) -> None:
    # Precision of the CaPT-repository trainers (fp16 = CLIP weights in half precision on CUDA; on CPU the
    # weights stay fp32). NAMES_TO_UPDATE: parameters whose name (prefixed "learnable_params.") contains
    # one of these strings are trained.
    add_cfg_node(cfg, "TRAINER", {"PREC": "fp16", "NAMES_TO_UPDATE": ["learnable_params"]})


@torch.no_grad()
def class_prompt_tokens(clip_model, classnames: list[str], prefix_text: str, n_ctx: int):
    """Token embeddings around a learnable context for the prompts ``"<prefix_text> <name>."``.

    Returns ``(token_prefix [C, 1, W], token_suffix [C, L - 1 - n_ctx, W], eot_indices [C])``: the start
    token, everything after the ``n_ctx`` context positions, and where the end token sits.
    """
    names = [name.replace("_", " ") for name in classnames]
    tokens = tokenize([f"{prefix_text} {name}." for name in names])
    device = clip_model.token_embedding.weight.device
    embedding = clip_model.token_embedding(tokens.to(device)).to(clip_model.dtype)
    return embedding[:, :1], embedding[:, 1 + n_ctx:], tokens.argmax(dim=-1)


def coop_text_features(clip_model, learner) -> torch.Tensor:
    """Class text features [C, D] of a CoOp prompt learner, from its ``context()`` (offsets included)."""
    return learner.encode(clip_model, learner.build_prompts(learner.context()))


def check_end_position(position: str, key: str) -> None:
    if position != "end":
        raise NotImplementedError(f"{key} = {position!r}: only the 'end' class-token position is supported")


class LearnableParamsNetwork(EvalCacheMixin, nn.Module):
    """A frozen CLIP (``clip``) and the trainable ``learnable_params`` dict.

    Subclasses implement ``text_features()`` (un-normalised, [C, D]) and may override
    ``image_features(image)``. ``inert`` lists parameter-name prefixes inside ``learnable_params`` that are
    kept only so checkpoints have the published keys; they never receive gradients and are not trained.
    """

    inert: tuple[str, ...] = ()

    def __init__(self, clip_model, names_to_update=("learnable_params",)):
        super().__init__()
        self.clip = clip_model.lock()
        self.learnable_params = nn.ModuleDict()
        self.names_to_update = tuple(names_to_update)

    def train(self, mode: bool = True):
        """Switch the learnable parts (and the evaluation cache); the frozen CLIP always stays in eval."""
        super().train(mode)
        self.clip.eval()
        return self

    @property
    def prompt_learner(self) -> nn.Module:
        return self.learnable_params["prompt_learner"]

    @property
    def dtype(self) -> torch.dtype:
        return self.clip.dtype

    def trainable_params(self) -> list[nn.Parameter]:
        out = []
        for name, param in self.learnable_params.named_parameters():
            if name.startswith(self.inert):
                continue
            if any(key in f"learnable_params.{name}" for key in self.names_to_update):
                out.append(param)
        return out

    def image_features(self, image: torch.Tensor) -> torch.Tensor:
        return self.clip.encode_image(image.to(self.dtype))

    def text_features(self) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def class_text_features(self) -> torch.Tensor:
        """``text_features()``, computed once per evaluation (every step while training)."""
        return self.cached("text", self.text_features)

    def similarity_logits(self, image_feats: torch.Tensor, text_feats: torch.Tensor) -> torch.Tensor:
        """``exp(logit_scale) * norm(f) @ norm(t)^T`` (100-scaled cosine for OpenAI weights)."""
        return self.unit_logits(l2_normalize(image_feats), l2_normalize(text_feats))

    def unit_logits(self, image_unit: torch.Tensor, text_unit: torch.Tensor) -> torch.Tensor:
        """``exp(logit_scale) * f @ t^T`` of features already normalised."""
        return self.clip.logit_scale.exp() * image_unit @ text_unit.t()

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.similarity_logits(self.image_features(image), self.class_text_features())


class NetworkPlugin(Protocol):
    """What a plug-in that wraps any ``LearnableParamsTrainer`` (CaPT) provides.

    It is built from the config when the trainer checks it (raise there on bad settings), adds its modules to
    the network once the method has built it, and decides the classification loss.
    """

    def __init__(self, cfg) -> None: ...

    def attach(self, trainer: LearnableParamsTrainer, network: LearnableParamsNetwork) -> None: ...

    def classification_loss(self, logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor: ...


class LearnableParamsTrainer(ClipTrainer):
    """Base of the CaPT-repository trainers: registered model ``learnable_params``, ``TRAINER.PREC``.

    ``classification_loss(logits, label)`` is plain cross-entropy. A subclass that sets ``plugin_type``
    (a :class:`NetworkPlugin`) gets the plug-in as ``self.plugin``: it extends the network and supplies the
    classification loss (CaPT: the meta-net and the margin loss, the only changes it makes to a baseline).
    """

    model_name = "learnable_params"
    prec_key = None  # TRAINER.PREC
    plugin_type: type[NetworkPlugin] | None = None

    def check_cfg(self, cfg):
        super().check_cfg(cfg)
        self.plugin = self.plugin_type(cfg) if self.plugin_type is not None else None

    def extend_network(self, network):
        if self.plugin is not None:
            self.plugin.attach(self, network)
        return network

    def load_backbone(self, precision: str | None = None):
        """The frozen CLIP of ``MODEL.BACKBONE.NAME`` on the trainer's device (checked against INPUT.SIZE)."""
        from trainers.common.backbone import load_clip

        clip_model = load_clip(self.cfg, precision=precision or self.weight_precision).to(self.device)
        size = self.cfg.INPUT.SIZE[0]
        resolution = getattr(clip_model.visual, "input_resolution", size)
        if size != resolution:
            raise ValueError(f"INPUT.SIZE[0] = {size} must equal the input resolution {resolution} of "
                             f"{self.cfg.MODEL.BACKBONE.NAME}")
        return clip_model

    def registered_module(self) -> nn.Module:
        return self.model.learnable_params

    def classification_loss(self, logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        if self.plugin is not None:
            return self.plugin.classification_loss(logits, label)
        return nn.functional.cross_entropy(logits.float(), label)
