"""The toy CLIP initialiser writes exactly the OpenAI key layout the clip package builds from."""

import math

import pytest
import torch

import clip
from clip.model import CLIP, infer_config
from tools.toy_world.models import TOY_MODELS, ToyCLIPConfig, init_state_dict

SMALL = ToyCLIPConfig(embed_dim=32, vision_width=64, vision_layers=2, text_width=64, text_layers=1)


def _reference_shapes(config: ToyCLIPConfig) -> dict:
    with torch.device("meta"):
        model = CLIP(
            config.embed_dim,
            config.image_resolution,
            config.vision_layers,
            config.vision_width,
            config.patch_size,
            config.context_length,
            config.vocab_size,
            config.text_width,
            config.text_width // 64,
            config.text_layers,
        )
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("config", [SMALL, *TOY_MODELS.values()], ids=["small", *TOY_MODELS])
def test_keys_and_shapes_are_the_openai_layout(config):
    state = init_state_dict(config, seed=0)
    assert {k: tuple(v.shape) for k, v in state.items()} == _reference_shapes(config)
    inferred = infer_config(state)
    assert inferred["vision_width"] == config.vision_width and inferred["embed_dim"] == config.embed_dim
    assert inferred["image_resolution"] == config.image_resolution
    assert inferred["vocab_size"] == 49408 and inferred["context_length"] == 77


def test_initialisation_is_seeded_and_follows_openai_scales():
    a, b, c = (init_state_dict(SMALL, seed=s) for s in (1, 1, 2))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["token_embedding.weight"], c["token_embedding.weight"])
    assert a["token_embedding.weight"].std().item() == pytest.approx(0.02, rel=0.05)
    assert a["positional_embedding"].std().item() == pytest.approx(0.01, rel=0.1)
    assert a["logit_scale"].item() == pytest.approx(math.log(1 / 0.07))
    assert torch.equal(a["visual.ln_post.weight"], torch.ones(64))
    assert torch.equal(a["transformer.resblocks.0.attn.in_proj_bias"], torch.zeros(192))


def test_builds_and_runs_through_the_clip_package():
    model = clip.build_model(init_state_dict(SMALL, seed=0), precision="fp32")
    image = model.encode_image(torch.randn(2, 3, 32, 32))
    text = model.encode_text(clip.tokenize(["a photo of a bag.", "a photo of a coat."]))
    assert image.shape == (2, 32) and text.shape == (2, 32)
    assert torch.isfinite(image).all() and torch.isfinite(text).all()


def test_student_and_teacher_sizes():
    student, teacher = TOY_MODELS["ToyViT-S"], TOY_MODELS["ToyViT-L"]
    assert student.embed_dim != teacher.embed_dim  # a student -> teacher projection is needed
    assert teacher.vision_width > student.vision_width
    assert min(student.vision_layers, teacher.vision_layers) >= 6  # deep prompts of depth 3-5
    assert student.grid == 8 and student.image_resolution == teacher.image_resolution == 32
    fp16_bytes = sum(2 * sum(v.numel() for v in init_state_dict(c).values()) for c in (student, teacher))
    assert fp16_bytes < 19.8e6  # both files must stay below 20 MB to be committed


def test_widths_must_be_multiples_of_64():
    with pytest.raises(ValueError, match="multiple of 64"):
        ToyCLIPConfig(embed_dim=32, vision_width=96, vision_layers=2)
