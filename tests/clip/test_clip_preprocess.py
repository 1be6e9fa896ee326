"""Normalisation statistics stored with the weights: OpenAI's, a record's, and how a config resolves them."""

import json

import pytest
import torch
from PIL import Image

import clip
from clip import loader
from clip.preprocess import OPENAI, RECORD_KEY, PixelStats, record_entry, stats_from_record
from clip.testing import make_random_state_dict, save_state_dict
from dassl.config import extend_cfg, get_cfg_default, pixel_stats, resolve_pixel_stats

OWN = PixelStats((0.5, 0.25, 0.125), (0.2, 0.3, 0.4))


@pytest.fixture
def weights_dir(tmp_path, monkeypatch):
    """A folder with ``Own.pt`` (record with its own statistics), ``Bare.pt`` (no record) and
    ``Plain.pt`` (a record without the entry)."""
    monkeypatch.delenv(loader.ENV_VAR, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    state = make_random_state_dict("vit", seed=0, image_resolution=32)
    for name in ("Own", "Bare", "Plain"):
        save_state_dict(state, str(tmp_path / f"{name}.pt"))
    (tmp_path / "Own.json").write_text(json.dumps({"name": "Own", RECORD_KEY: record_entry(OWN)}))
    (tmp_path / "Plain.json").write_text(json.dumps({"name": "Plain"}))
    return tmp_path


def test_released_models_are_openai_without_a_file(tmp_path, monkeypatch):
    monkeypatch.delenv(loader.ENV_VAR, raising=False)
    assert clip.pixel_stats("ViT-B/16", str(tmp_path)) == OPENAI
    assert OPENAI.mean == (0.48145466, 0.4578275, 0.40821073)
    assert OPENAI.std == (0.26862954, 0.26130258, 0.27577711)


def test_a_record_gives_its_own_statistics_else_openai(weights_dir):
    assert clip.pixel_stats("Own", str(weights_dir)) == OWN
    assert clip.pixel_stats(str(weights_dir / "Own.pt")) == OWN
    assert clip.pixel_stats("Bare", str(weights_dir)) == OPENAI
    assert clip.pixel_stats("Plain", str(weights_dir)) == OPENAI
    with pytest.raises(FileNotFoundError, match="Missing"):
        clip.pixel_stats("Missing", str(weights_dir))


def test_load_returns_a_preprocess_with_the_weights_statistics(weights_dir):
    _, preprocess = clip.load("Own", weights_dir=str(weights_dir))
    out = preprocess(Image.new("RGB", (40, 40), color=(128, 128, 128)))
    for channel, (mean, std) in enumerate(zip(OWN.mean, OWN.std)):
        assert torch.allclose(out[channel], torch.full((32, 32), (128 / 255 - mean) / std), atol=1e-5)


@pytest.mark.parametrize("entry, match", [
    ({"mean": [0.5, 0.5], "std": [0.2, 0.2, 0.2]}, "preprocess.mean must be a list of 3 numbers"),
    ({"mean": [0.5, 0.5, 0.5], "std": [0.2, 0.0, 0.2]}, "preprocess.std must be a list of 3 positive"),
    ({"mean": [0.5, "x", 0.5], "std": [0.2, 0.2, 0.2]}, "preprocess.mean"),
    ([0.5, 0.5, 0.5], "'preprocess' must be an object"),
])
def test_a_malformed_record_names_the_file_and_the_key(tmp_path, entry, match):
    path = tmp_path / "Bad.json"
    path.write_text(json.dumps({RECORD_KEY: entry}))
    with pytest.raises(ValueError, match=match) as err:
        stats_from_record(str(path))
    assert str(path) in str(err.value)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        stats_from_record(str(path))


def _cfg(backbone, weights_dir=None, **inputs):
    cfg = extend_cfg(get_cfg_default())
    cfg.MODEL.BACKBONE.NAME = backbone
    if weights_dir is not None:
        cfg.MODEL.CLIP_WEIGHTS_DIR = str(weights_dir)
    for key, value in inputs.items():
        cfg.INPUT[key] = value
    return cfg


def test_unset_config_values_come_from_the_backbone_weights(weights_dir):
    cfg = _cfg("Own", weights_dir)
    assert cfg.INPUT.PIXEL_MEAN == [] and cfg.INPUT.PIXEL_STD == []  # the default means "unset"
    assert pixel_stats(cfg) == (list(OWN.mean), list(OWN.std))
    assert pixel_stats(_cfg("ViT-B/16")) == (list(OPENAI.mean), list(OPENAI.std))
    resolve_pixel_stats(cfg)
    assert (cfg.INPUT.PIXEL_MEAN, cfg.INPUT.PIXEL_STD) == (list(OWN.mean), list(OWN.std))


def test_set_config_values_win_each_on_its_own(weights_dir):
    both = _cfg("Own", weights_dir, PIXEL_MEAN=[0.1, 0.2, 0.3], PIXEL_STD=[0.9, 0.8, 0.7])
    assert pixel_stats(both) == ([0.1, 0.2, 0.3], [0.9, 0.8, 0.7])
    mean_only = _cfg("Own", weights_dir, PIXEL_MEAN=[0.1, 0.2, 0.3])
    assert pixel_stats(mean_only) == ([0.1, 0.2, 0.3], list(OWN.std))


def test_non_clip_backbones_keep_dassls_imagenet_statistics():
    from dassl.modeling import BACKBONE_REGISTRY, Backbone

    class PixelStatsTestBackbone(Backbone):
        pass

    BACKBONE_REGISTRY.register(PixelStatsTestBackbone, force=True)
    imagenet = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    assert pixel_stats(_cfg("")) == imagenet
    assert pixel_stats(_cfg("PixelStatsTestBackbone")) == imagenet


def test_an_unknown_backbone_is_an_error_naming_it(weights_dir):
    with pytest.raises(FileNotFoundError, match="'Nowhere'"):
        pixel_stats(_cfg("Nowhere", weights_dir))
