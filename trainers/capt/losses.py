"""CAPT's own loss terms: L_confuse (symmetric InfoNCE over the confusion-expanded batch) and the router's
load-balancing term.

L_ori is plain cross-entropy, and the optional KD to the teacher is PromptKD's
:func:`trainers.common.losses.kd_loss` (so ``SPLE.LOSS_KD_WEIGHT`` is on the scale of
``TRAINER.PROMPTKD.KD_WEIGHT``; the trainer passes ``TRAINER.PROMPTKD.TEMPERATURE``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["confusion_infonce", "load_balance", "symmetric_cross_entropy"]


def confusion_infonce(image_feats: torch.Tensor, text_feats: torch.Tensor, labels: torch.Tensor,
                      scale: torch.Tensor | float) -> torch.Tensor:
    """Symmetric InfoNCE where row i (an anchor or a representative) is paired with the text feature of
    its own class; other rows of the same class are masked out of the negatives (they are not negatives).

    image_feats, text_feats: [N, D] normalised; labels: [N]. Computed in fp32 whatever their dtype.
    """
    logits = scale * image_feats.float() @ text_feats.float().t()
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(labels.shape[0], dtype=torch.bool, device=labels.device)
    return symmetric_cross_entropy(logits.masked_fill(same & ~eye, float("-inf")))


def symmetric_cross_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Mean of the row-wise and column-wise cross-entropy of a square [N, N] logit matrix whose diagonal
    holds the positive pairs; reduced in fp32."""
    logits = logits.float()
    target = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))


def load_balance(router_probs: torch.Tensor) -> torch.Tensor:
    """sum_e m_e log m_e over the batch-mean router probabilities (minimal when experts share the load);
    fp32 whatever the probabilities' dtype."""
    mean = router_probs.float().mean(dim=0)
    return (mean * mean.clamp_min(1e-12).log()).sum()
