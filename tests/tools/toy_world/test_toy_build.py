"""``tools.toy_world.build``: which models count as up to date, and that up-to-date ones are not rebuilt."""

import json
from dataclasses import asdict, replace

import pytest

from tools.toy_world import build, pretrain
from tools.toy_world import data as toy_data
from tools.toy_world.models import TOY_MODELS
from tools.toy_world.prepare import PrepareConfig


def _write_record(directory, name, prepare_config, **changes):
    record = {
        "architecture": TOY_MODELS[name].to_dict(),
        "recipe": json.loads(json.dumps(asdict(pretrain.RECIPES[name]))),
        "caption_templates": list(pretrain.CAPTION_TEMPLATES),
        "preprocess": {"mean": list(toy_data.PIXEL_STATS.mean), "std": list(toy_data.PIXEL_STATS.std)},
        "data": {"prepare_config": asdict(prepare_config)},
    }
    record.update(changes)
    (directory / f"{name}.json").write_text(json.dumps(record))
    (directory / f"{name}.pt").write_bytes(b"weights")


def test_model_is_current(tmp_path):
    config = PrepareConfig()
    current, reason = build.model_is_current("ToyViT-S", tmp_path, config)
    assert not current and "ToyViT-S.pt is missing" in reason
    _write_record(tmp_path, "ToyViT-S", config)
    assert build.model_is_current("ToyViT-S", tmp_path, config) == (True, "up to date")
    # Downstream split sizes do not change the pretraining pool; its seed and size do.
    assert build.model_is_current("ToyViT-S", tmp_path, replace(config, test_per_class=5))[0]
    current, reason = build.model_is_current("ToyViT-S", tmp_path, replace(config, seed=2))
    assert not current and "different pool" in reason
    _write_record(tmp_path, "ToyViT-S", config, recipe={"steps": 1})
    current, reason = build.model_is_current("ToyViT-S", tmp_path, config)
    assert not current and "recipe differs" in reason
    _write_record(tmp_path, "ToyViT-S", config, preprocess={"mean": [0.5] * 3, "std": [0.5] * 3})
    current, reason = build.model_is_current("ToyViT-S", tmp_path, config)
    assert not current and "preprocess differs" in reason
    (tmp_path / "ToyViT-S.json").write_text("{not json")
    assert "not valid JSON" in build.model_is_current("ToyViT-S", tmp_path, config)[1]


def test_build_skips_up_to_date_models(tmp_path, fmnist_dir, small_config, capsys, monkeypatch):
    clip_dir = tmp_path / "clip"
    clip_dir.mkdir()
    for name in TOY_MODELS:
        _write_record(clip_dir, name, small_config)

    def fail(*args, **kwargs):
        raise AssertionError("an up-to-date model was pretrained again")

    monkeypatch.setattr(pretrain, "build_model_files", fail)
    report = build.build(
        str(tmp_path / "data"), str(clip_dir), source=str(fmnist_dir), workers=1, prepare_config=small_config
    )
    out = capsys.readouterr().out
    assert all(f"{name} found in" in out for name in TOY_MODELS)
    assert set(report) == {"prepare_s", "shifted_s"}
    for folder in ("fashion_mnist_edges", "fashion_mnist_inverted"):
        assert (tmp_path / "data" / folder / "prepared.json").is_file()
    with pytest.raises(AssertionError, match="pretrained again"):
        build.build(str(tmp_path / "data"), str(clip_dir), force=True, source=str(fmnist_dir), workers=1,
                    prepare_config=small_config)
