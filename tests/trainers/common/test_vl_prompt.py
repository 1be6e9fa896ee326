import pytest
import torch

from clip import build_model, l2_normalize, tokenize
from clip.checkpoint_keys import load_upstream_state_dict, to_upstream_state_dict
from clip.testing import make_random_state_dict
from trainers.common.vl_prompt import IVLPDesign, VLPromptModel

CLASSES = ["cat", "sea_lion", "dog"]
SIZES = dict(
    embed_dim=64,
    image_resolution=32,
    vision_layers=3,
    vision_width=64,
    patch_size=8,
    text_width=64,
    text_layers=3,
)


@pytest.fixture(scope="module")
def state_dict():
    return make_random_state_dict("vit", seed=3, **SIZES)


def make_model(state_dict, design=None, classes=CLASSES):
    torch.manual_seed(0)
    return VLPromptModel(build_model(state_dict), classes, design or IVLPDesign(2, 3, 3, 2, "a photo of a"))


def test_only_context_and_prompts_are_declared_trainable(state_dict):
    model = make_model(state_dict)
    names = {n for n, p in model.named_parameters() if any(p is q for q in model.trainable_params())}
    assert names == {
        "prompt_learner.ctx",
        "vision_prompts.shallow",
        "vision_prompts.deep.0",
        "vision_prompts.deep.1",
        "text_prompts.deep.0",
    }
    assert model.vision_prompts.shallow.shape == (2, 64)
    assert model.text_prompts.deep[0].shape == (3, 64)


def test_prompt_text_starts_as_the_init_phrase_followed_by_the_class_name(state_dict):
    model = make_model(state_dict, IVLPDesign(2, 4, 1, 1, "a photo of a"))
    clip_model = build_model(state_dict)
    tokens = tokenize([f"a photo of a {c.replace('_', ' ')}." for c in CLASSES])
    expected = clip_model.token_embedding(tokens)
    assert torch.allclose(model.prompt_learner(), expected)
    assert torch.equal(model.prompt_learner.eot_indices, tokens.argmax(-1))
    assert "prompt_learner.token_prefix" in model.state_dict()
    assert "prompt_learner.eot_indices" not in model.state_dict()


def test_random_context_uses_x_placeholders(state_dict):
    model = make_model(state_dict, IVLPDesign(2, 6, 1, 1, "a photo of a"))  # n_ctx > 4: random init
    assert model.prompt_learner.prompt_prefix == "X X X X X X"
    assert model.prompt_learner.ctx.std().item() == pytest.approx(0.02, rel=0.5)


def _as_upstream(tokens, like):
    """Prompt tokens repeated over the batch, rounded through fp16 as the original IVLP-design CLIP does."""
    return tokens.expand(len(like), -1, -1).half().to(like.dtype)


def _reference_image(model, images):
    visual, prompts = model.image_encoder, model.vision_prompts
    x, _ = visual.embed(images)
    n = prompts.shallow.shape[0]
    x = visual.ln_pre(torch.cat([x, _as_upstream(prompts.shallow, x)], dim=1))
    for i, block in enumerate(visual.transformer.resblocks):
        if 1 <= i <= len(prompts.deep):
            x = torch.cat([x[:, :-n], _as_upstream(prompts.deep[i - 1], x)], dim=1)
        x = block(x)
    return visual.ln_post(x[:, 0]) @ visual.proj


def _reference_text(model):
    learner, enc, prompts = model.prompt_learner, model.text_encoder, model.text_prompts
    x = learner() + enc.positional_embedding
    n = learner.n_ctx
    mask = torch.full((x.shape[1], x.shape[1]), float("-inf")).triu_(1)
    for i, block in enumerate(enc.transformer.resblocks):
        if 1 <= i <= len(prompts.deep):
            x = torch.cat([x[:, :1], _as_upstream(prompts.deep[i - 1], x), x[:, 1 + n :]], dim=1)
        x = block(x, attn_mask=mask)
    x = enc.ln_final(x)
    return x[torch.arange(len(x)), learner.eot_indices] @ enc.text_projection


def test_deep_prompts_sit_where_the_ivlp_design_puts_them(state_dict):
    model = make_model(state_dict)
    with torch.no_grad():
        for p in model.trainable_params():
            p.normal_()  # make every prompt matter
    images = torch.randn(2, 3, 32, 32)
    assert torch.allclose(model.encode_image(images), _reference_image(model, images), atol=1e-5)
    assert torch.allclose(model.encode_text(), _reference_text(model), atol=1e-5)
    plain = build_model(state_dict).encode_image(images)
    assert torch.allclose(model.encode_image(images, prompted=False), plain, atol=1e-6)
    assert not torch.allclose(model.encode_image(images), plain, atol=1e-3)


def test_logits_and_eval_cache(state_dict):
    model = make_model(state_dict)
    images = torch.randn(4, 3, 32, 32)
    calls = []
    original = model.encode_text

    def counting():
        calls.append(1)
        return original()

    model.encode_text = counting
    model.eval()
    with torch.no_grad():
        first = model(images)
        second = model(images[:2])
    assert len(calls) == 1  # class texts encoded once per evaluation, not per batch
    expected = (
        model.logit_scale.exp() * l2_normalize(model.encode_image(images)) @ l2_normalize(original()).t()
    )
    assert torch.allclose(first, expected, atol=1e-5)
    assert torch.allclose(second, first[:2], atol=1e-5)
    model.train()
    model(images).sum().backward()
    assert len(calls) == 2  # training recomputes (with gradients)
    assert model.prompt_learner.ctx.grad is not None
    assert model.vision_prompts.deep[1].grad is not None


def test_design_checks(state_dict):
    clip_model = build_model(state_dict)
    with pytest.raises(ValueError, match="PROMPT_DEPTH_TEXT must be >= 1"):
        VLPromptModel(clip_model, CLASSES, IVLPDesign(2, 2, 1, 0))
    with pytest.raises(ValueError, match="exceeds the 3 vision layers"):
        VLPromptModel(clip_model, CLASSES, IVLPDesign(2, 2, 9, 1))
    with pytest.raises(ValueError, match="exceeds the 3 text layers"):
        VLPromptModel(clip_model, CLASSES, IVLPDesign(2, 2, 1, 9))
    with pytest.raises(ValueError, match="fewer than N_CTX_TEXT"):
        VLPromptModel(clip_model, CLASSES, IVLPDesign(2, 4, 1, 1, "a photo"))
    no_vision = VLPromptModel(clip_model, CLASSES, IVLPDesign(2, 2, 0, 1))
    assert no_vision.vision_prompts.shallow is None
    assert not any(k.startswith("vision_prompts") for k in no_vision.state_dict())


def test_upstream_layout_round_trip_accounts_for_every_key(state_dict):
    source = make_model(state_dict)
    with torch.no_grad():
        for p in source.trainable_params():
            p.normal_()
    upstream = to_upstream_state_dict(source.state_dict())
    assert "image_encoder.VPT" in upstream
    assert "image_encoder.transformer.resblocks.2.VPT_shallow" in upstream
    assert "text_encoder.transformer.resblocks.1.VPT_shallow" in upstream
    upstream["prompt_learner.ZS_image_encoder.conv1.weight"] = torch.zeros(1)
    upstream["prompt_learner.token_prefix2"] = torch.zeros(1)
    target = make_model(state_dict, classes=["a", "b"])  # other classes: token buffers are rebuilt
    report = load_upstream_state_dict(target, {"state_dict": upstream})
    assert not report.unexpected
    assert set(report.missing) == {
        "prompt_learner.token_prefix",
        "prompt_learner.token_suffix",
    }  # kept as built
    assert set(report.dropped) == {
        "prompt_learner.token_prefix",
        "prompt_learner.token_suffix",
        "prompt_learner.token_prefix2",
    }
    assert report.ignored == ["prompt_learner.ZS_image_encoder.conv1.weight"]
    for (name, a), b in zip(source.named_parameters(), target.parameters()):
        assert torch.equal(a, b), name
