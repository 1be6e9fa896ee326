"""Loss terms of the IVLP family as plain functions of tensors.

``kd_loss`` is PromptKD's unsupervised distillation term; the ``scl_*`` functions are PromptSRC's
self-regularising constraints, which pull the prompted model towards the frozen zero-shot CLIP. The
trainers weight and name them; keeping them here lets a unit test check each against hand-computed
numbers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _check_logits(student: torch.Tensor, teacher: torch.Tensor) -> None:
    if student.shape != teacher.shape or student.dim() != 2:
        raise ValueError(f"logits must both be [B, C]; got {tuple(student.shape)} and {tuple(teacher.shape)}")


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0):
    """Temperature-scaled KL(p_T || p_S), summed and divided by B*C, times temperature squared.

    ``p = softmax(logits / temperature)``. The teacher side carries no gradient. The B*C normaliser
    (instead of B) is PromptKD's choice; the published KD weights (200 / 1000) are tuned for it.
    """
    _check_logits(student_logits, teacher_logits)
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    tau = float(temperature)
    log_p_student = F.log_softmax(student_logits.float() / tau, dim=1)
    p_teacher = F.softmax(teacher_logits.detach().float() / tau, dim=1)
    kl = F.kl_div(log_p_student, p_teacher, reduction="sum")
    return kl * tau * tau / student_logits.numel()


def scl_logits_loss(logits: torch.Tensor, zero_shot_logits: torch.Tensor) -> torch.Tensor:
    """PromptSRC's logit constraint: sum p0 * (log p0 - log p) / (B*C), p0 from the frozen CLIP."""
    _check_logits(logits, zero_shot_logits)
    log_p = F.log_softmax(logits.float(), dim=1)
    log_p0 = F.log_softmax(zero_shot_logits.detach().float(), dim=1)
    return F.kl_div(log_p, log_p0, reduction="sum", log_target=True) / logits.numel()


def scl_feature_loss(features: torch.Tensor, zero_shot_features: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between prompted and frozen (normalised) features."""
    if features.shape != zero_shot_features.shape:
        raise ValueError(
            f"feature shapes differ: {tuple(features.shape)} vs {tuple(zero_shot_features.shape)}"
        )
    return F.l1_loss(features.float(), zero_shot_features.detach().float(), reduction="mean")


def promptsrc_losses(
    logits,
    label,
    text_features,
    zs_text_features,
    image_features,
    zs_image_features,
    zs_logits,
    text_weight: float = 25.0,
    image_weight: float = 10.0,
) -> dict:
    """PromptSRC's four weighted terms as a dict (their sum is the training loss).

    ``text_features`` / ``image_features`` are the normalised prompted features, the ``zs_*`` ones the
    normalised frozen-CLIP features, ``zs_logits`` the frozen-CLIP logits on the same images.
    """
    return {
        "loss_ce": F.cross_entropy(logits.float(), label),
        "loss_scl_text": text_weight * scl_feature_loss(text_features, zs_text_features),
        "loss_scl_image": image_weight * scl_feature_loss(image_features, zs_image_features),
        "loss_scl_logits": scl_logits_loss(logits, zs_logits),
    }
