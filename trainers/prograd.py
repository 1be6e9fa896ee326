"""ProGrad: prompt-aligned gradient (the CaPT repository's ``ProGrad`` trainer).

Features:
    * CoOp prompts; with ``CTX_INIT`` set the context is ``N_CTX`` tokens whose last four start as
      "a photo of a" (the others zero) and the prompt text reads ``"X .. X a photo of a <name>."``;
    * a frozen fp32 zero-shot CLIP teacher with the dataset's ProGrad template;
    * two losses, ``xe = CE(z_S, y)`` and ``kl`` = cross-entropy to the teacher's soft labels at
      temperature ``LOSS.T``; the update keeps only the part of the ``xe`` gradient that does not oppose
      the ``kl`` gradient (``LOSS.LAMBDA`` times the opposing component removed), per parameter tensor.

Flags: ``TRAINER.PROGRAD.{N_CTX, CSC, CTX_INIT, CLASS_TOKEN_POSITION}``, ``LOSS.{NAME, T, LAMBDA}``,
``TRAINER.NAMES_TO_UPDATE``, ``TRAINER.PREC`` (fp16 / fp32; amp is rejected). Checkpoints:
``<output>/learnable_params/``. Logged: ``xe_loss``, ``kl_loss``, ``acc``.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

from clip.class_text import class_prompts, encode_class_texts
from dassl.config import add_cfg_node, cfg_hook
from dassl.engine import TRAINER_REGISTRY
from dassl.utils.distributed import all_reduce_mean
from datasets.templates import get_templates
from trainers.common.coop_prompt import CoOpPromptLearner
from trainers.common.learnable_params import (
    LearnableParamsNetwork,
    LearnableParamsTrainer,
    check_end_position,
    coop_text_features,
)
from trainers.kgcoop import INIT_PHRASE

log = logging.getLogger(__name__)


@cfg_hook
def add_prograd_cfg(cfg) -> None:
    add_cfg_node(cfg, "TRAINER.PROGRAD", {
        "N_CTX": 4, "CSC": False, "CTX_INIT": "a photo of a", "CLASS_TOKEN_POSITION": "end",
    })
    # ProGrad's loss settings (GM and ALPHA exist in the reference config but are unused).
    add_cfg_node(cfg, "LOSS", {"GM": False, "NAME": "", "ALPHA": 0.0, "T": 1.0, "LAMBDA": 1.0})


def project_conflicting(grad_xe: torch.Tensor, grad_kl: torch.Tensor, lam: float = 1.0) -> torch.Tensor:
    """ProGrad's rule for one tensor: remove ``lam`` times the component of ``g_xe`` that opposes ``g_kl``.

    With ``u = g_kl / |g_kl|``: if ``<g_xe / |g_xe|, u> < 0`` the result is ``g_xe - lam <g_xe, u> u``,
    else ``g_xe`` unchanged. A zero gradient on either side leaves ``g_xe`` unchanged.
    """
    xe, kl = grad_xe.flatten().float(), grad_kl.flatten().float()
    n_xe, n_kl = torch.linalg.vector_norm(xe), torch.linalg.vector_norm(kl)
    if n_xe == 0 or n_kl == 0:
        return grad_xe
    unit_kl = kl / n_kl
    if torch.dot(xe / n_xe, unit_kl) >= 0:
        return grad_xe
    projected = xe - lam * torch.dot(xe, unit_kl) * unit_kl
    return projected.view_as(grad_xe).to(grad_xe.dtype)


def prograd_backward(params: list[torch.nn.Parameter], loss_xe: torch.Tensor, loss_kl: torch.Tensor,
                     lam: float = 1.0) -> None:
    """Fill ``p.grad`` of every parameter with the ProGrad-projected cross-entropy gradient.

    The KL gradient is taken first (``autograd.grad``, graph kept), then ``loss_xe.backward()``; tensors
    that receive no gradient from either loss are skipped. The caller zeroes gradients before and steps
    the optimizer after. In a distributed run ``backward()`` averages the cross-entropy gradients over the
    processes (DDP) and the KL gradients are averaged here, so the projection is that of the global batch.
    """
    params = [p for p in params if p.requires_grad]
    kl_grads = torch.autograd.grad(loss_kl, params, retain_graph=True, allow_unused=True)
    kl_grads = all_reduce_mean(kl_grads)
    loss_xe.backward()
    for p, g_kl in zip(params, kl_grads):
        if p.grad is None or g_kl is None:
            continue
        p.grad = project_conflicting(p.grad, g_kl, lam)


def soft_cross_entropy(student_logits: torch.Tensor, teacher_logits: torch.Tensor, t: float = 1.0):
    """``mean_b sum_c -softmax(z_T / t)_c * log_softmax(z_S / t)_c * t^2`` (teacher side detached)."""
    p_teacher = F.softmax(teacher_logits.detach().float() / t, dim=-1)
    log_p = F.log_softmax(student_logits.float() / t, dim=-1)
    return (-p_teacher * log_p * t * t).sum(dim=1).mean()


def build_prograd_learner(clip_model, classnames: list[str], node) -> CoOpPromptLearner:
    """ProGrad's prompt learner (``node`` = ``cfg.TRAINER.PROGRAD``)."""
    check_end_position(node.CLASS_TOKEN_POSITION, "TRAINER.PROGRAD.CLASS_TOKEN_POSITION")
    n_ctx, n_phrase = int(node.N_CTX), len(INIT_PHRASE.split())
    if not node.CTX_INIT:
        return CoOpPromptLearner(classnames, clip_model, n_ctx=n_ctx, csc=bool(node.CSC))
    if n_ctx < n_phrase:
        raise ValueError(f"TRAINER.PROGRAD.N_CTX = {n_ctx} is smaller than the {n_phrase} tokens of the init "
                         f"phrase {INIT_PHRASE!r}")
    # the prompt text reads "X .. X a photo of a <name>."; the X rows of the context start at zero
    phrase = " ".join(["X"] * (n_ctx - n_phrase) + [INIT_PHRASE])
    learner = CoOpPromptLearner(classnames, clip_model, ctx_init=phrase)
    with torch.no_grad():
        learner.ctx[: n_ctx - n_phrase] = 0
    return learner


def zero_shot_text(clip_model, classnames: list[str], template: str) -> torch.Tensor:
    """Normalised frozen-CLIP text features [C, D] (fp32) of ``template`` filled with each class name."""
    log.info(f"Prompts: {class_prompts([template], classnames)}")
    return encode_class_texts(clip_model, template, classnames, normalize_each=False)


class ProGradNetwork(LearnableParamsNetwork):
    """Student (prompted CLIP) plus the fp32 zero-shot teacher's class features ``teacher_text``.

    ``teacher_clip`` is None when the student CLIP already runs in fp32: the student's image tower is
    frozen and unprompted, so its image features are the teacher's.
    """

    def __init__(self, clip_model, classnames, node, template: str, teacher_clip=None,
                 names_to_update=("learnable_params",)):
        super().__init__(clip_model, names_to_update)
        self.learnable_params["prompt_learner"] = build_prograd_learner(clip_model, classnames, node)
        self.teacher_clip = [teacher_clip.lock()] if teacher_clip is not None else None  # not a submodule
        self.teacher_text = zero_shot_text(teacher_clip or clip_model, classnames, template)

    def text_features(self):
        return coop_text_features(self.clip, self.prompt_learner)

    @torch.no_grad()
    def teacher_logits(self, image: torch.Tensor, student_image_feats: torch.Tensor) -> torch.Tensor:
        if self.teacher_clip is None:
            feats = student_image_feats.float()
        else:
            feats = self.teacher_clip[0].encode_image(image.float()).float()
        scale = self.clip.logit_scale.exp().float()
        return scale * F.normalize(feats, dim=-1) @ self.teacher_text.t()


@TRAINER_REGISTRY.register()
class ProGrad(LearnableParamsTrainer):
    """ProGrad (see the module docstring)."""

    def check_cfg(self, cfg):
        super().check_cfg(cfg)
        if cfg.TRAINER.PREC == "amp":
            raise ValueError("ProGrad: TRAINER.PREC amp is not supported (the two-gradient update has no "
                             "loss scaling); use fp16 or fp32")

    def build_network(self):
        cfg = self.cfg
        clip_model = self.load_backbone()
        teacher = None
        if clip_model.dtype != torch.float32:
            log.info("Building zero-shot CLIP teacher (fp32)")
            teacher = self.load_backbone(precision="fp32")
        template = get_templates(cfg.DATASET.NAME).prograd
        return ProGradNetwork(clip_model, self.dm.dataset.classnames, cfg.TRAINER.PROGRAD, template, teacher,
                              cfg.TRAINER.NAMES_TO_UPDATE)

    def compute_loss(self, image, label):
        image_feats = self.model.image_features(image)
        logits = self.model.similarity_logits(image_feats, self.model.text_features())
        teacher = self.model.teacher_logits(image, image_feats)
        losses = {
            "xe_loss": self.classification_loss(logits, label),
            "kl_loss": soft_cross_entropy(logits, teacher, self.cfg.LOSS.T),
        }
        return losses, {"acc": self.accuracy(logits, label)}

    def backward_and_update(self, loss, losses):
        self.model_zero_grad()
        self.detect_anomaly(losses["kl_loss"])
        self.detect_anomaly(losses["xe_loss"])
        params = [p for p in self.registered_module().parameters() if p.requires_grad]
        prograd_backward(params, losses["xe_loss"], losses["kl_loss"], self.cfg.LOSS.LAMBDA)
        self.model_update()

    def loss_summary(self, loss, losses, metrics):
        return {**{k: v.item() for k, v in losses.items()}, **{k: float(v) for k, v in metrics.items()}}
