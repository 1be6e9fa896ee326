"""ProGrad's gradient projection and soft cross-entropy on hand-computed examples."""

import math

import pytest
import torch

from trainers.prograd import prograd_backward, project_conflicting, soft_cross_entropy


def test_two_parameter_example_projects_only_the_conflicting_tensor():
    p1 = torch.nn.Parameter(torch.zeros(2))
    p2 = torch.nn.Parameter(torch.zeros(2))
    unused = torch.nn.Parameter(torch.zeros(3))  # in no graph: must be skipped, not crash
    frozen = torch.nn.Parameter(torch.zeros(1), requires_grad=False)
    # gradients are the coefficient vectors of these linear losses
    loss_xe = (torch.tensor([1.0, 0.0]) * p1).sum() + (torch.tensor([1.0, 1.0]) * p2).sum()
    loss_kl = (torch.tensor([-1.0, 1.0]) * p1).sum() + (torch.tensor([1.0, 0.0]) * p2).sum()
    prograd_backward([p1, p2, unused, frozen], loss_xe, loss_kl, lam=1.0)
    # p1: u = [-1, 1]/sqrt2, <g, u> = -1/sqrt2 < 0 -> g - <g, u> u = [1, 0] + [-0.5, 0.5]
    assert torch.allclose(p1.grad, torch.tensor([0.5, 0.5]))
    # p2: <g, u> > 0 -> unchanged
    assert torch.allclose(p2.grad, torch.tensor([1.0, 1.0]))
    assert unused.grad is None and frozen.grad is None


def test_lambda_scales_the_removed_component_and_result_is_orthogonal_at_one():
    g_xe = torch.tensor([[2.0, -1.0], [0.5, 0.0]])
    g_kl = torch.tensor([[-1.0, 0.0], [0.0, 3.0]])
    full = project_conflicting(g_xe, g_kl, lam=1.0)
    assert torch.dot(full.flatten(), g_kl.flatten()).item() == pytest.approx(0.0, abs=1e-6)
    half = project_conflicting(g_xe, g_kl, lam=0.5)
    u = g_kl.flatten() / g_kl.norm()
    expected = g_xe.flatten() - 0.5 * torch.dot(g_xe.flatten(), u) * u
    assert torch.allclose(half.flatten(), expected)
    assert half.shape == g_xe.shape
    # zero gradients leave g_xe unchanged instead of producing NaN
    assert torch.equal(project_conflicting(g_xe, torch.zeros_like(g_kl)), g_xe)


def test_soft_cross_entropy_matches_hand_computation():
    student = torch.tensor([[1.0, 0.0]])
    teacher = torch.tensor([[0.0, 0.0]])
    # teacher uniform: 0.5 * (-log softmax) summed = 0.5 * (log(1 + e^-1) + log(1 + e))
    expected = 0.5 * (math.log(1 + math.exp(-1)) + math.log(1 + math.exp(1)))
    assert soft_cross_entropy(student, teacher, 1.0).item() == pytest.approx(expected, abs=1e-6)
    # temperature t multiplies by t^2 after dividing the logits by t
    t = 2.0
    exp2 = t * t * 0.5 * (math.log(1 + math.exp(-0.5)) + math.log(1 + math.exp(0.5)))
    assert soft_cross_entropy(student, teacher, t).item() == pytest.approx(exp2, abs=1e-6)


@pytest.mark.slow
def test_prograd_trains_on_base_and_evaluates_on_new(toy_world, tmp_path):
    from vl_toy import results, run, toy_argv

    fast = ["DATASET.NUM_SHOTS", "2", "OPTIM.MAX_EPOCH", "1", "TRAINER.PROGRAD.N_CTX", "6",
            "TRAIN.COLLECT_ENV_INFO", "False"]
    out = tmp_path / "train_base"
    trainer = run(toy_argv(toy_world, "ProGrad", "ProGrad/toy_vit_s.yaml", out, *fast,
                           "DATASET.SUBSAMPLE_CLASSES", "base"))
    learner = trainer.model.prompt_learner
    # right-aligned init: two zero rows, then "a photo of a"
    fresh = run(toy_argv(toy_world, "ProGrad", "ProGrad/toy_vit_s.yaml", tmp_path / "init", *fast,
                         "DATASET.SUBSAMPLE_CLASSES", "base", flags=["--no-train"]))
    init = fresh.model.prompt_learner.ctx
    assert init.shape[0] == 6 and torch.count_nonzero(init[:2]) == 0 and torch.count_nonzero(init[2:]) > 0
    assert not torch.equal(learner.ctx, init)
    assert trainer.model.teacher_text.shape[0] == 5
    log = (out / "log.txt").read_text()
    assert "xe_loss" in log and "kl_loss" in log and "Prompts: ['a photo of a t-shirt.'" in log
    assert results(out)["total"] == 5 * 6
    new_out = tmp_path / "test_new"
    run(toy_argv(toy_world, "ProGrad", "ProGrad/toy_vit_s.yaml", new_out, *fast, "DATASET.SUBSAMPLE_CLASSES",
                 "new", flags=["--model-dir", str(out), "--load-epoch", "-1", "--eval-only"]))
    assert results(new_out)["total"] == 5 * 6


def test_prograd_rejects_amp(toy_world, tmp_path):
    from vl_toy import run, toy_argv

    with pytest.raises(ValueError, match="amp"):
        run(toy_argv(toy_world, "ProGrad", "ProGrad/toy_vit_s.yaml", tmp_path, "TRAINER.PREC", "amp",
                     "DATASET.NUM_SHOTS", "1", flags=["--no-train"]))
