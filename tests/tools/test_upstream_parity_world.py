"""The parity world is reproducible to the byte and readable by the CLIP loader and the Caltech101 reader."""

import filecmp
import json
import os

import pytest
import torch

from clip.loader import load
from clip.model import build_model
from tools.upstream_parity import world


@pytest.fixture(scope="module")
def two_builds(tmp_path_factory):
    first, second = tmp_path_factory.mktemp("first"), tmp_path_factory.mktemp("second")
    world.main(["--out", str(first)])
    world.build_world(str(second))
    return first, second


def _files(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


def test_two_builds_are_byte_identical(two_builds):
    first, second = two_builds
    names = _files(first)
    assert names == _files(second)
    assert len(names) == 2 + 1 + 6 * 18
    _, mismatch, errors = filecmp.cmpfiles(first, second, names, shallow=False)
    assert mismatch == [] and errors == []


def test_build_leaves_global_rngs_alone(tmp_path):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    world.build_caltech101(str(tmp_path), seed=5)
    world.random_clip_state_dict(world.MODELS["ViT-B-16"], seed=5)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("name", sorted(world.MODELS))
def test_weights_are_fp16_openai_layout_and_load(two_builds, name):
    path = two_builds[0] / "weights" / f"{name}.pt"
    state_dict = torch.load(path, map_location="cpu")
    assert all(v.dtype == torch.float16 for v in state_dict.values())
    config = world.MODELS[name]
    assert state_dict["visual.positional_embedding"].shape[0] == (224 // config["vision_patch_size"]) ** 2 + 1
    assert state_dict["ln_final.weight"].unique().numel() > 1 and state_dict["ln_final.bias"].abs().sum() > 0
    model = build_model(state_dict)
    assert model.visual.output_dim == config["embed_dim"]
    model, preprocess = load(str(path))
    assert model.visual.input_resolution == 224
    with torch.no_grad():
        features = model.encode_text(torch.zeros(2, 77, dtype=torch.long))
    assert torch.isfinite(features).all() and features.shape == (2, config["embed_dim"])


def test_caltech101_split_lists_every_image_with_its_class(two_builds):
    root = two_builds[0] / "caltech-101"
    split = json.loads((root / "split_zhou_Caltech101.json").read_text())
    assert {k: len(v) for k, v in split.items()} == {"train": 48, "val": 24, "test": 36}
    labels = {(item[1], item[2]) for item in split["test"]}
    assert labels == {(0, "face"), (1, "leopard"), (2, "motorbike"), (3, "accordion"), (4, "airplane"),
                      (5, "anchor")}
    for relpath, _, _ in split["train"] + split["val"] + split["test"]:
        assert (root / "101_ObjectCategories" / relpath).is_file()
