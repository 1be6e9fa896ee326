"""The plug-in on the shared CoOp prompt learner: offsets land on every context token and nowhere else."""

import pytest
import torch

from clip import build_model
from clip.testing import make_random_state_dict
from trainers.common.coop_prompt import CoOpPromptLearner
from trainers.common.learnable_params import coop_text_features
from trainers.ucp.plugin import ClassConditioner, attach


@pytest.fixture(scope="module")
def tiny_clip():
    return build_model(make_random_state_dict("vit", seed=5))


def test_offsets_touch_only_the_context_positions(tiny_clip):
    names = ["t-shirt", "ankle_boot", "bag"]
    learner = CoOpPromptLearner(names, tiny_clip, ctx_init="a photo of a", verbose=False)
    plain = learner()
    torch.manual_seed(0)
    conditioner = ClassConditioner(torch.randn(3, 64), out_dim=64, hidden_dim=8).eval()
    attach(learner, conditioner)
    assert learner.class_offsets is conditioner
    prompts = learner.build_prompts(learner.context())
    m = conditioner.offsets()
    diff = prompts - plain
    assert torch.allclose(diff[:, 1:5], m[:, None, :].expand(-1, 4, -1), atol=1e-6)
    assert torch.count_nonzero(diff[:, 0]) == 0 and torch.count_nonzero(diff[:, 5:]) == 0
    # offsets differ per class, so the text features of the conditioned learner differ from plain CoOp
    with torch.no_grad():
        conditioned = coop_text_features(tiny_clip, learner)
        unconditioned = learner.encode(tiny_clip, plain)
    assert not torch.allclose(conditioned, unconditioned)


def test_gradients_reach_meta_net_and_context(tiny_clip):
    learner = CoOpPromptLearner(["bag", "coat"], tiny_clip, n_ctx=2, verbose=False)
    attach(learner, ClassConditioner(torch.randn(2, 64), out_dim=64, hidden_dim=4))
    coop_text_features(tiny_clip.requires_grad_(False), learner).sum().backward()
    assert learner.ctx.grad is not None and learner.ucp.unified_transfer.down.weight.grad is not None


def test_feature_size_different_from_text_width():
    # toy CLIPs have 128-d features but 64-wide text tokens: TCI in, context-width offsets out
    clip_model = build_model(make_random_state_dict("vit", seed=6, embed_dim=128, text_width=64))
    from trainers.ucp.tci import extract_tci

    tci = extract_tci(clip_model, ["bag", "coat"], "a photo of a {}.")
    assert tci.shape == (2, 128)
    learner = attach(CoOpPromptLearner(["bag", "coat"], clip_model, n_ctx=2, verbose=False),
                     ClassConditioner(tci, out_dim=clip_model.ln_final.weight.shape[0], hidden_dim=4))
    with torch.no_grad():
        assert coop_text_features(clip_model, learner).shape == (2, 128)
