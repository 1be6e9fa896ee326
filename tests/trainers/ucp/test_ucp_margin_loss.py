"""The margin loss against hand-computed values (the worked check of the CaPT spec)."""

import pytest
import torch
import torch.nn.functional as F

from trainers.ucp.margin_loss import MarginLoss, class_similarity, margin_logits, margin_offsets


def _sim3():
    return torch.tensor([[1.0, 0.8, 0.6], [0.8, 1.0, 0.5], [0.6, 0.5, 1.0]])


def test_worked_check_shifts_logits_by_hand_computed_amounts():
    logits = torch.tensor([[2.0, 1.0, 0.5]])
    adjusted = margin_logits(logits, torch.tensor([0]), smoothing=0.0031, similarity=_sim3())
    delta = adjusted - logits
    # s * S / (C - 1) * 100: 0.0031 * 0.8 / 2 * 100 = 0.124, 0.0031 * 0.6 / 2 * 100 = 0.093
    assert delta[0, 1].item() == pytest.approx(-0.124, abs=1e-6)
    assert delta[0, 2].item() == pytest.approx(-0.093, abs=1e-6)
    assert delta[0, 0].item() == pytest.approx(0.217, abs=1e-6)


def test_margin_rows_sum_to_zero_and_target_is_negative_sum():
    labels = torch.tensor([0, 2, 1])
    m = margin_offsets(labels, 3, 0.01, _sim3())
    assert torch.allclose(m.sum(dim=1), torch.zeros(3), atol=1e-7)
    assert m[1, 2].item() == pytest.approx(-(0.01 * 0.6 / 2 + 0.01 * 0.5 / 2))
    # without a similarity matrix every non-target class gets s / (C - 1)
    plain = margin_offsets(torch.tensor([1]), 3, 0.01)
    assert torch.allclose(plain, torch.tensor([[0.005, -0.01, 0.005]]))


def test_loss_value_matches_cross_entropy_of_adjusted_logits():
    logits = torch.tensor([[2.0, 1.0, 0.5], [0.1, 0.3, 1.5]])
    labels = torch.tensor([0, 2])
    loss = MarginLoss(3, _sim3(), smoothing=0.0031)(logits, labels)
    shifted = logits.clone()
    shifted[0] += torch.tensor([0.217, -0.124, -0.093])
    shifted[1] += torch.tensor([-0.093, -0.0775, 0.1705])
    assert loss.item() == pytest.approx(F.cross_entropy(shifted, labels).item(), abs=1e-6)
    # the relaxing margin raises the target logit, so the loss is below plain CE
    assert loss.item() < F.cross_entropy(logits, labels).item()


def test_smooth_zero_is_exactly_cross_entropy():
    torch.manual_seed(0)
    logits = torch.randn(5, 4, requires_grad=True)
    labels = torch.tensor([0, 1, 2, 3, 1])
    loss = MarginLoss(4, torch.rand(4, 4), smoothing=0.0)(logits, labels)
    assert torch.equal(loss, F.cross_entropy(logits, labels))


def test_gradient_flows_to_logits_only_through_the_cross_entropy():
    logits = torch.tensor([[2.0, 1.0, 0.5]], requires_grad=True)
    MarginLoss(3, _sim3(), smoothing=0.0031)(logits, torch.tensor([0])).backward()
    adjusted = (logits.detach() + torch.tensor([[0.217, -0.124, -0.093]])).requires_grad_(True)
    F.cross_entropy(adjusted, torch.tensor([0])).backward()
    assert torch.allclose(logits.grad, adjusted.grad, atol=1e-6)


def test_class_similarity_is_cosine_and_rejects_bad_shapes():
    v = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    s = class_similarity(v)
    assert s[0, 1].item() == pytest.approx(2 ** -0.5, abs=1e-6)
    assert s[0, 2].item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="must be"):
        class_similarity(torch.ones(3))
    with pytest.raises(ValueError, match="SMOOTH"):
        MarginLoss(3, smoothing=1.5)
    with pytest.raises(ValueError, match="3 classes"):
        MarginLoss(3, smoothing=0.1)(torch.zeros(1, 4), torch.tensor([0]))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_logits_keep_the_class_similarity_margin(dtype):
    # Logits of 16-32 as CLIP gives them (scale 100) over 50 classes with the published smoothing: the
    # non-target margins (~0.005) are below half an fp16 ulp there, so they must be applied in fp32.
    gen = torch.Generator().manual_seed(0)
    num_classes, smoothing = 50, 0.0031
    logits = (16 + 16 * torch.rand(8, num_classes, generator=gen)).to(dtype)
    labels = torch.randint(0, num_classes, (8,), generator=gen)
    vectors = 2 + torch.randn(num_classes, 16, generator=gen)  # class names read alike: similarity ~0.8
    similarity = class_similarity(vectors)
    reference = logits.float() - 100 * margin_offsets(labels, num_classes, smoothing, similarity)
    adjusted = margin_logits(logits, labels, smoothing, similarity)
    assert adjusted.dtype == torch.float32
    assert torch.allclose(adjusted, reference, atol=1e-5, rtol=0)
    shift = adjusted - logits.float()
    off_target = ~F.one_hot(labels, num_classes).bool()
    assert (shift[off_target] != 0).all()  # no non-target margin rounded away
    loss = MarginLoss(num_classes, similarity, smoothing)(logits, labels)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(F.cross_entropy(reference, labels).item(), rel=1e-6)
