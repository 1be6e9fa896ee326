import math

import pytest
import torch

from trainers.common.losses import kd_loss, promptsrc_losses, scl_feature_loss, scl_logits_loss


def test_kd_loss_matches_hand_computed_value():
    # teacher p = (0.75, 0.25), student p = (0.5, 0.5); sum KL over B*C = 2 entries.
    student = torch.tensor([[0.0, 0.0]])
    teacher = torch.tensor([[math.log(3.0), 0.0]])
    expected = (0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)) / 2
    assert kd_loss(student, teacher).item() == pytest.approx(expected, rel=1e-6)


def test_kd_loss_temperature_scales_logits_and_multiplies_tau_squared():
    student = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    teacher = torch.tensor([[2 * math.log(3.0), 0.0], [0.0, 0.0]])
    tau = 2.0
    # row 0: teacher p = (0.75, 0.25), student (0.5, 0.5); row 1: teacher (0.5, 0.5),
    # student softmax((0.5, 0)) = (s, 1 - s).
    s = 1 / (1 + math.exp(-0.5))
    kl0 = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    kl1 = 0.5 * math.log(0.5 / s) + 0.5 * math.log(0.5 / (1 - s))
    expected = tau**2 * (kl0 + kl1) / 4
    assert kd_loss(student, teacher, tau).item() == pytest.approx(expected, rel=1e-6)


def test_kd_loss_is_zero_for_equal_logits_and_sends_gradient_to_student_only():
    teacher = torch.randn(3, 5, requires_grad=True)
    student = teacher.detach().clone().requires_grad_(True)
    loss = kd_loss(student, teacher)
    assert loss.item() == pytest.approx(0.0, abs=1e-7)
    (kd_loss(student * 2, teacher)).backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
    assert teacher.grad is None


def test_kd_loss_rejects_bad_input():
    with pytest.raises(ValueError, match="temperature"):
        kd_loss(torch.zeros(1, 2), torch.zeros(1, 2), 0.0)
    with pytest.raises(ValueError, match="logits"):
        kd_loss(torch.zeros(1, 2), torch.zeros(1, 3))


def test_scl_logits_loss_is_kl_from_frozen_to_prompted():
    logits = torch.tensor([[0.0, 0.0]])
    frozen = torch.tensor([[math.log(3.0), 0.0]])
    expected = (0.75 * math.log(1.5) + 0.25 * math.log(0.5)) / 2
    assert scl_logits_loss(logits, frozen).item() == pytest.approx(expected, rel=1e-6)
    # Direction matters: swapping the roles gives KL(p || p0), a different number.
    swapped = (0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)) / 2
    assert scl_logits_loss(frozen, logits).item() == pytest.approx(swapped, rel=1e-6)


def test_scl_feature_loss_is_mean_absolute_difference():
    a = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    b = torch.tensor([[0.0, 2.0], [1.0, 8.0]])
    assert scl_feature_loss(a, b).item() == pytest.approx((1 + 0 + 2 + 4) / 4)
    with pytest.raises(ValueError):
        scl_feature_loss(a, b[:1])


def test_promptsrc_losses_weights_each_term():
    torch.manual_seed(0)
    logits, zs_logits = torch.randn(4, 3), torch.randn(4, 3)
    label = torch.tensor([0, 1, 2, 0])
    text, zs_text = torch.randn(3, 8), torch.randn(3, 8)
    image, zs_image = torch.randn(4, 8), torch.randn(4, 8)
    terms = promptsrc_losses(
        logits, label, text, zs_text, image, zs_image, zs_logits, text_weight=25, image_weight=10
    )
    assert set(terms) == {"loss_ce", "loss_scl_text", "loss_scl_image", "loss_scl_logits"}
    assert terms["loss_ce"].item() == pytest.approx(torch.nn.functional.cross_entropy(logits, label).item())
    assert terms["loss_scl_text"].item() == pytest.approx(25 * (text - zs_text).abs().mean().item(), rel=1e-6)
    assert terms["loss_scl_image"].item() == pytest.approx(
        10 * (image - zs_image).abs().mean().item(), rel=1e-6
    )
    p0 = zs_logits.softmax(1)
    manual = (p0 * (p0.log() - logits.log_softmax(1))).sum() / logits.numel()
    assert terms["loss_scl_logits"].item() == pytest.approx(manual.item(), rel=1e-5)
