"""Upstream IVLP-family checkpoints (PromptKD teacher layout, baselines spec 6.6) load with every key
accounted for; renamed or missing prompt keys and shape mismatches fail loudly."""

import pytest
import torch
from torch import nn

from clip.checkpoint_keys import (
    load_upstream_state_dict,
    map_upstream_key,
    to_upstream_key,
    to_upstream_state_dict,
)
from clip.model import build_model
from clip.prompts import TextDeepPrompts, VisionPromptLearner
from clip.testing import make_random_state_dict
from clip.text import TextEncoder

SIZES = {"vision_layers": 10, "vision_width": 128, "text_layers": 9, "text_width": 64, "embed_dim": 96}
N_CLASSES, N_CTX, DEPTH = 5, 4, 9


class PromptLearner(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.ctx = nn.Parameter(torch.zeros(N_CTX, width))


class Teacher(nn.Module):
    """The module layout trainer authors follow for an IVLP / PromptSRC / PromptKD teacher."""

    def __init__(self, clip_model):
        super().__init__()
        self.prompt_learner = PromptLearner(64)
        self.image_encoder = clip_model.visual
        self.text_encoder = TextEncoder(clip_model)
        self.logit_scale = clip_model.logit_scale
        self.vision_prompts = VisionPromptLearner(N_CTX, 128, DEPTH)
        self.text_prompts = TextDeepPrompts(N_CTX, 64, DEPTH)


@pytest.fixture(scope="module")
def clip_state():
    return make_random_state_dict("vit", seed=5, **SIZES)


def _teacher(clip_state):
    model = build_model(clip_state)
    return Teacher(model).requires_grad_(False)


def _upstream_checkpoint(clip_state):
    """A Dassl checkpoint with the upstream PromptSRC/PromptKD teacher keys (random values)."""
    g = torch.Generator().manual_seed(0)
    state = {"prompt_learner.ctx": torch.randn(N_CTX, 64, generator=g)}
    for suffix in ("", "2"):
        state[f"prompt_learner.token_prefix{suffix}"] = torch.randn(N_CLASSES, 1, 64, generator=g)
        state[f"prompt_learner.token_suffix{suffix}"] = torch.randn(N_CLASSES, 72, 64, generator=g)
    for key, value in clip_state.items():
        if key.startswith("visual."):
            state["image_encoder." + key[len("visual."):]] = value.clone()
            state["prompt_learner.ZS_image_encoder." + key[len("visual."):]] = value.clone()
        elif key.startswith(("transformer.", "positional_embedding", "ln_final.", "text_projection")):
            state["text_encoder." + key] = value.clone()
    state["logit_scale"] = torch.tensor(4.0)
    state["image_encoder.VPT"] = torch.randn(N_CTX, 128, generator=g)
    for i in range(1, DEPTH):
        state[f"image_encoder.transformer.resblocks.{i}.VPT_shallow"] = torch.randn(N_CTX, 128, generator=g)
        state[f"text_encoder.transformer.resblocks.{i}.VPT_shallow"] = torch.randn(N_CTX, 64, generator=g)
    return {"state_dict": state, "epoch": 20, "optimizer": None, "scheduler": None, "val_result": 80.0}


def test_key_mapping():
    assert map_upstream_key("image_encoder.VPT") == ("vision_prompts.shallow", "load")
    assert map_upstream_key("module.image_encoder.transformer.resblocks.3.VPT_shallow") == (
        "vision_prompts.deep.2", "load")
    assert map_upstream_key("text_encoder.transformer.resblocks.8.VPT_shallow") == (
        "text_prompts.deep.7", "load")
    assert map_upstream_key("prompt_learner.token_suffix2")[1] == "drop"
    assert map_upstream_key("prompt_learner.ZS_image_encoder.conv1.weight")[1] == "ignore"
    key = "VPT_image_trans.conv1.1.running_mean"
    assert map_upstream_key(key) == (key, "load")
    for key in ("image_encoder.VPT", "image_encoder.transformer.resblocks.4.VPT_shallow",
                "text_encoder.transformer.resblocks.1.VPT_shallow", "image_encoder.ln_post.weight"):
        assert to_upstream_key(map_upstream_key(key)[0]) == key
    with pytest.raises(ValueError, match="block 0"):
        map_upstream_key("image_encoder.transformer.resblocks.0.VPT_shallow")


def test_teacher_checkpoint_loads_with_every_key_accounted_for(clip_state, tmp_path):
    path = tmp_path / "model-best.pth.tar"
    torch.save(_upstream_checkpoint(clip_state), str(path))
    checkpoint = torch.load(str(path), map_location="cpu", weights_only=False)
    upstream = checkpoint["state_dict"]
    teacher = _teacher(clip_state)
    report = load_upstream_state_dict(teacher, checkpoint)
    assert report.missing == [] and report.unexpected == []
    assert sorted(report.dropped) == ["prompt_learner.token_prefix", "prompt_learner.token_prefix2",
                                      "prompt_learner.token_suffix", "prompt_learner.token_suffix2"]
    assert len(report.ignored) == sum(k.startswith("prompt_learner.ZS_image_encoder.") for k in upstream)
    assert len(report.loaded) + len(report.dropped) + len(report.ignored) == len(upstream)
    assert set(report.loaded) == set(teacher.state_dict())
    assert torch.equal(teacher.vision_prompts.shallow, upstream["image_encoder.VPT"])
    for k in range(DEPTH - 1):
        block = f"transformer.resblocks.{k + 1}.VPT_shallow"
        assert torch.equal(teacher.vision_prompts.deep[k], upstream["image_encoder." + block])
        assert torch.equal(teacher.text_prompts.deep[k], upstream["text_encoder." + block])
    assert torch.equal(teacher.prompt_learner.ctx, upstream["prompt_learner.ctx"])
    assert teacher.logit_scale.item() == 4.0
    assert "dropped 4" in report.summary()
    saved = to_upstream_state_dict(teacher.state_dict())
    assert set(saved) == set(upstream) - set(report.dropped) - set(report.ignored)


def test_renamed_prompt_key_fails(clip_state):
    checkpoint = _upstream_checkpoint(clip_state)
    state = checkpoint["state_dict"]
    state["image_encoder.transformer.resblocks.3.VPT_deep"] = state.pop(
        "image_encoder.transformer.resblocks.3.VPT_shallow")
    with pytest.raises(ValueError, match="vision_prompts.deep.2") as info:
        load_upstream_state_dict(_teacher(clip_state), checkpoint)
    assert "VPT_deep" in str(info.value)


def test_missing_prompt_key_fails(clip_state):
    checkpoint = _upstream_checkpoint(clip_state)
    del checkpoint["state_dict"]["text_encoder.transformer.resblocks.5.VPT_shallow"]
    with pytest.raises(ValueError, match="text_prompts.deep.4"):
        load_upstream_state_dict(_teacher(clip_state), checkpoint)
    checkpoint = _upstream_checkpoint(clip_state)
    del checkpoint["state_dict"]["prompt_learner.ctx"]
    with pytest.raises(ValueError, match="prompt_learner.ctx"):
        load_upstream_state_dict(_teacher(clip_state), checkpoint)


def test_deeper_checkpoint_than_model_fails(clip_state):
    checkpoint = _upstream_checkpoint(clip_state)
    checkpoint["state_dict"]["image_encoder.transformer.resblocks.9.VPT_shallow"] = torch.zeros(N_CTX, 128)
    with pytest.raises(ValueError, match="resblocks.9.VPT_shallow"):
        load_upstream_state_dict(_teacher(clip_state), checkpoint)


def test_shape_mismatch_fails(clip_state):
    checkpoint = _upstream_checkpoint(clip_state)
    checkpoint["state_dict"]["image_encoder.VPT"] = torch.zeros(8, 128)
    with pytest.raises(ValueError, match=r"image_encoder.VPT -> vision_prompts.shallow.*\(8, 128\)"):
        load_upstream_state_dict(_teacher(clip_state), checkpoint)


def test_student_layout_with_module_prefix(clip_state):
    """PromptKD student: visual tower + prompts + the 512->768 projection, saved from DataParallel."""
    model = build_model(clip_state)
    student = nn.Module()
    student.image_encoder = model.visual
    student.vision_prompts = VisionPromptLearner(N_CTX, 128, DEPTH)
    student.logit_scale = model.logit_scale
    student.VPT_image_trans = nn.Module()
    student.VPT_image_trans.conv1 = nn.Sequential(nn.Conv2d(96, 128, 1), nn.BatchNorm2d(128), nn.ReLU(),
                                                  nn.Conv2d(128, 128, 1))
    upstream = {k: v for k, v in _upstream_checkpoint(clip_state)["state_dict"].items()
                if k.startswith("image_encoder.") or k == "logit_scale"}
    source = nn.Sequential(nn.Conv2d(96, 128, 1), nn.BatchNorm2d(128), nn.ReLU(), nn.Conv2d(128, 128, 1))
    source[1].running_mean.fill_(0.5)
    upstream.update({f"VPT_image_trans.conv1.{k}": v for k, v in source.state_dict().items()})
    report = load_upstream_state_dict(student, {f"module.{k}": v for k, v in upstream.items()},
                                      required_prefixes=("vision_prompts.", "VPT_image_trans."))
    assert report.missing == [] and report.unexpected == [] and report.dropped == []
    assert torch.equal(student.VPT_image_trans.conv1[1].running_mean, torch.full((128,), 0.5))
    assert torch.equal(student.vision_prompts.deep[7],
                       upstream["image_encoder.transformer.resblocks.8.VPT_shallow"])
