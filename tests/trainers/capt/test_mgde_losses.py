"""MGDE starts as the identity on the feature; routing, load balancing and the confusion InfoNCE."""

import math

import pytest
import torch
import torch.nn.functional as F

from clip import l2_normalize
from trainers.capt.losses import confusion_infonce, load_balance
from trainers.capt.mgde import MGDE, SampleExpert


def test_zero_init_returns_the_normalised_feature_bit_for_bit():
    torch.manual_seed(0)
    mgde = MGDE(dim=8, n_sample_experts=2, topk=2)
    f = torch.randn(5, 8) * 3
    out, probs = mgde(f, torch.randn(5, 2, 3, 8), torch.randn(5, 3, 8), torch.ones(5, 3, dtype=torch.bool))
    assert torch.equal(out, l2_normalize(f))
    assert probs.shape == (5, 4) and torch.allclose(probs.sum(-1), torch.ones(5))


def test_experts_change_the_feature_once_trained():
    mgde = MGDE(dim=8, topk=3)
    torch.nn.init.normal_(mgde.diff.out.weight)
    f = torch.randn(4, 8)
    out, _ = mgde(f, torch.randn(4, 2, 3, 8))
    assert not torch.allclose(out, l2_normalize(f))
    assert torch.allclose(out.norm(dim=-1), torch.ones(4))


def test_router_topk_renormalises():
    mgde = MGDE(dim=6, n_sample_experts=2, topk=2)
    probs, weights = mgde.route(torch.randn(7, 6))
    assert ((weights > 0).sum(-1) == 2).all()
    assert torch.allclose(weights.sum(-1), torch.ones(7))


def test_sample_expert_initialised_from_a_block_mlp_when_widths_match():
    fc = torch.nn.Linear(8, 32)
    assert torch.equal(SampleExpert(8, fc).fc.weight, fc.weight)
    other = SampleExpert(6, fc)
    assert not other.initialised_from_block and other.fc.in_features == 6


def test_load_balance_is_minimal_for_uniform_routing():
    uniform = torch.full((4, 3), 1 / 3)
    skewed = torch.tensor([[1.0, 0, 0]] * 4)
    assert load_balance(uniform).item() == pytest.approx(-math.log(3))
    assert load_balance(skewed).item() == pytest.approx(0.0, abs=1e-6)


def test_confusion_infonce_masks_duplicate_classes():
    torch.manual_seed(1)
    img = F.normalize(torch.randn(4, 8), dim=-1)
    text_bank = F.normalize(torch.randn(3, 8), dim=-1)
    labels = torch.tensor([0, 1, 0, 2])
    loss = confusion_infonce(img, text_bank[labels], labels, 10.0)
    logits = 10.0 * img @ text_bank[labels].t()

    def term(row_logits, i):  # -log softmax over the allowed entries (self + other classes)
        allowed = [j for j in range(4) if j == i or labels[j] != labels[i]]
        return -torch.log_softmax(row_logits[allowed], 0)[allowed.index(i)]

    rows = torch.stack([term(logits[i], i) for i in range(4)]).mean()
    cols = torch.stack([term(logits[:, i], i) for i in range(4)]).mean()
    assert loss.item() == pytest.approx((0.5 * (rows + cols)).item(), rel=1e-5)
    # without masking, the same-class column would count as a negative and raise the loss
    plain = 0.5 * (F.cross_entropy(logits, torch.arange(4)) + F.cross_entropy(logits.t(), torch.arange(4)))
    assert plain.item() > loss.item()

