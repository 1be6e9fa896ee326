"""Every loss that meets low-precision logits or features reduces in fp32.

Under ``PREC fp16`` (half CLIP weights) or amp/bf16 autocast the logits reach the losses in fp16 or bf16.
Each loss must give the value of its fp32 reference on the same (upcast) inputs and return fp32; a loss
that computed in the inputs' dtype would be off by far more than the tolerance used here.
"""

import pytest
import torch
import torch.nn.functional as F

from trainers.capt.losses import confusion_infonce, load_balance, symmetric_cross_entropy
from trainers.common.losses import kd_loss, scl_feature_loss, scl_logits_loss
from trainers.kgcoop import knowledge_gap
from trainers.prograd import soft_cross_entropy
from trainers.ucp.margin_loss import MarginLoss, class_similarity

LOW = [torch.float16, torch.bfloat16]


def _clip_logits(batch: int, classes: int, seed: int) -> torch.Tensor:
    """Logits as CLIP gives them: 100 x cosine, i.e. mostly between 15 and 35."""
    gen = torch.Generator().manual_seed(seed)
    return 15 + 20 * torch.rand(batch, classes, generator=gen)


def _unit(rows: int, dim: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(rows, dim, generator=gen), dim=-1)


def _check(loss_fn, *inputs, dtype):
    low = [x.to(dtype) if x.is_floating_point() else x for x in inputs]
    reference = loss_fn(*[x.float() if x.is_floating_point() else x for x in low])
    value = loss_fn(*low)
    assert value.dtype == torch.float32
    assert value.item() == pytest.approx(reference.item(), rel=1e-5, abs=1e-7)


@pytest.mark.parametrize("dtype", LOW)
def test_logit_losses_reduce_in_fp32(dtype):
    student, teacher = _clip_logits(8, 40, 0), _clip_logits(8, 40, 1)
    labels = torch.randint(0, 40, (8,), generator=torch.Generator().manual_seed(2))
    _check(lambda s, t: kd_loss(s, t, temperature=1.0), student, teacher, dtype=dtype)
    _check(scl_logits_loss, student, teacher, dtype=dtype)
    _check(lambda s, t: soft_cross_entropy(s, t, 1.0), student, teacher, dtype=dtype)
    similarity = class_similarity(2 + _unit(40, 16, 3))
    _check(MarginLoss(40, similarity, 0.0031), student, labels, dtype=dtype)
    _check(MarginLoss(40, None, 0.0), student, labels, dtype=dtype)


@pytest.mark.parametrize("dtype", LOW)
def test_feature_losses_reduce_in_fp32(dtype):
    feats, anchors = _unit(12, 32, 4), _unit(12, 32, 5)
    _check(scl_feature_loss, feats, anchors, dtype=dtype)
    _check(knowledge_gap, feats, anchors, dtype=dtype)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 3, 3, 4, 5, 6, 7])
    text = _unit(8, 32, 6)[labels]
    _check(lambda i, t: confusion_infonce(i, t, labels, 100.0), feats, text, dtype=dtype)
    _check(symmetric_cross_entropy, 100.0 * feats @ text.t(), dtype=dtype)
    router = torch.softmax(torch.randn(12, 3, generator=torch.Generator().manual_seed(7)), dim=-1)
    _check(load_balance, router, dtype=dtype)
