"""The DPC-family image pool built from a dataset split (datasets.pool)."""

import importlib.util
import json

import pytest
from dataset_trees import build, make_cfg

from datasets.pool import build_pool, check_pool, load_or_build_pool, pool_from_cfg, pool_from_dataset
from datasets.synthetic import BUILDERS


def _count(part):
    return sum(len(rels) for _, rels in part[0].values())


def test_pool_regroups_the_train_and_val_split(data_root):
    names = BUILDERS["Caltech101"](data_root)
    build(data_root, "Caltech101")
    split = json.loads((data_root / "caltech-101" / "split_generated_Caltech101.json").read_text())
    pool = pool_from_cfg(make_cfg(data_root, "Caltech101"))

    assert pool["train_obj_list"] == names and pool["val_obj_list"] == names
    assert _count(pool["train"]) == len(split["train"]) and _count(pool["val"]) == len(split["val"])
    label, rels = pool["train"][0]["face"]
    assert label == 0
    assert rels == [rel for rel, y, _ in split["train"] if y == 0]
    assert all(rel.startswith("Faces/") for rel in rels)  # relative to the image folder, original folder name
    assert pool["val"][0]["anchor"][0] == 5


def test_pool_from_a_constructed_dataset_ignores_fewshot_and_subsample(data_root):
    BUILDERS["DescribableTextures"](data_root)
    ds = build(data_root, "DescribableTextures", num_shots=1, subsample="new")
    pool = pool_from_dataset(ds)
    assert pool == pool_from_cfg(make_cfg(data_root, "DescribableTextures"))
    assert _count(pool["train"]) == 15  # full split: 3 classes x 5


@pytest.mark.skipif(importlib.util.find_spec("scipy") is None, reason="SciPy not installed")
def test_stanford_cars_pool_paths(data_root):
    BUILDERS["StanfordCars"](data_root)
    pool = pool_from_cfg(make_cfg(data_root, "StanfordCars"))
    rels = [rel for _, paths in pool["train"][0].values() for rel in paths]
    assert rels and all(rel.startswith("cars_train/") for rel in rels)


def test_imagenet_pool_uses_test_as_val(data_root):
    BUILDERS["ImageNet"](data_root)
    pool = pool_from_cfg(make_cfg(data_root, "ImageNet"))
    assert _count(pool["train"]) == 30 and _count(pool["val"]) == 15
    assert pool["val"][0]["tench"][1][0].startswith("val/n01440764/")


def test_test_only_and_unknown_datasets_have_no_pool(data_root):
    BUILDERS["ImageNetA"](data_root)
    with pytest.raises(TypeError, match="test-only"):
        pool_from_cfg(make_cfg(data_root, "ImageNetA"))
    with pytest.raises(KeyError, match="Unknown DATASET.NAME 'Nope'"):
        pool_from_cfg(make_cfg(data_root, "Nope"))


def test_load_or_build_pool(data_root, tmp_path, capsys):
    BUILDERS["DescribableTextures"](data_root)
    cfg = make_cfg(data_root, "DescribableTextures")
    missing = tmp_path / "SPLE_DescribableTextures.json"
    derived = load_or_build_pool(str(missing), cfg)
    assert "not found; deriving it from the split of DescribableTextures" in capsys.readouterr().out
    assert derived == pool_from_cfg(cfg)

    custom = build_pool([], [], str(data_root))
    custom["train"][0]["banded"] = [0, ["banded/only.jpg"]]
    missing.write_text(json.dumps(custom))
    assert load_or_build_pool(str(missing), cfg)["train"][0] == {"banded": [0, ["banded/only.jpg"]]}


def test_check_pool_rejects_bad_layout():
    with pytest.raises(ValueError, match='"train" must be a one-element list'):
        check_pool({"train": {}, "val": [{}]}, "x.json")
    with pytest.raises(ValueError, match=r"\"val\" entry 'a' must be \[label, \[relative paths\]\]"):
        check_pool({"train": [{}], "val": [{"a": ["x.jpg"]}]}, "x.json")
