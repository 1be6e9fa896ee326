"""The ten non-ImageNet benchmarks on miniature copies of their real layouts."""

import importlib.util
import json
import math
import os
import shutil
import sys
from collections import Counter

import pytest
from dataset_trees import build, labels, paths

from datasets.splits import MissingImagesError
from datasets.synthetic import BUILDERS, NEEDS_SCIPY

HAS_SCIPY = importlib.util.find_spec("scipy") is not None

# Per class (train, val, test) sizes the split procedure must give on the miniature trees.
EXPECTED_SIZES = {
    "Caltech101": (5, 2, 3),  # 10 images: round(5) / round(2) / rest
    "OxfordPets": (8, 2, 4),  # 10 trainval -> 2 val; 4 test
    "StanfordCars": (4, 1, 3),
    "OxfordFlowers": (5, 2, 3),
    "Food101": (5, 2, 3),
    "FGVCAircraft": (4, 4, 4),  # official lists
    "SUN397": (4, 1, 3),
    "DescribableTextures": (5, 2, 3),
    "EuroSAT": (2, 1, 2),  # 5 images: round(2.5) = 2 (half to even), round(1.0) = 1
    "UCF101": (4, 1, 3),
}
FOLDERS = {
    "Caltech101": "caltech-101",
    "OxfordPets": "oxford_pets",
    "StanfordCars": "stanford_cars",
    "OxfordFlowers": "oxford_flowers",
    "Food101": "food-101",
    "FGVCAircraft": "fgvc_aircraft",
    "SUN397": "sun397",
    "DescribableTextures": "dtd",
    "EuroSAT": "eurosat",
    "UCF101": "ucf101",
}


def needs(name):
    if name in NEEDS_SCIPY and not HAS_SCIPY:
        pytest.skip(f"{name} reads MATLAB files; SciPy is not installed")


@pytest.mark.parametrize("name", sorted(EXPECTED_SIZES))
def test_generated_split_classes_and_sizes(data_root, name):
    needs(name)
    expected = BUILDERS[name](data_root)
    ds = build(data_root, name)

    assert ds.classnames == expected
    assert ds.all_classnames == expected
    assert ds.num_classes == len(expected)
    n_train, n_val, n_test = EXPECTED_SIZES[name]
    for items, per_class in ((ds.train_x, n_train), (ds.val, n_val), (ds.test, n_test)):
        assert Counter(labels(items)) == {y: per_class for y in range(len(expected))}
        assert all(ds.lab2cname[d.label] == d.classname for d in items)
        assert all(os.path.isfile(p) for p in paths(items))
    # train / val / test are disjoint
    assert not set(paths(ds.train_x)) & set(paths(ds.val))
    assert not set(paths(ds.train_x)) & set(paths(ds.test))


@pytest.mark.parametrize("name", sorted(set(EXPECTED_SIZES) - {"FGVCAircraft"}))
def test_split_file_written_then_read(data_root, name, capsys):
    needs(name)
    BUILDERS[name](data_root)
    first = build(data_root, name)
    split_path = data_root / FOLDERS[name] / f"split_generated_{name}.json"
    assert split_path.is_file()
    assert not (data_root / FOLDERS[name] / f"split_zhou_{name}.json").exists()  # never the official name
    log = capsys.readouterr().out
    assert f"Saved split to {split_path}" in log
    assert f"GENERATED a split for {name}" in log and f"Saved it as {split_path}" in log

    split = json.loads(split_path.read_text())
    assert set(split) == {"train", "val", "test", "generated"}
    record = split["generated"]
    assert record["official_file"] == f"split_zhou_{name}.json" and record["seed"] == 1
    for key, items in (("train", first.train_x), ("val", first.val), ("test", first.test)):
        assert len(split[key]) == len(items)
        for (rel, label, cname), item in zip(split[key], items):
            assert not rel.startswith("/") and not os.path.isabs(rel)
            assert os.path.join(first.split_prefix, rel) == item.impath
            assert (label, cname) == (item.label, item.classname)

    second = build(data_root, name, seed=99)  # a different seed must not matter once the file exists
    log = capsys.readouterr().out
    assert f"Reading split from {split_path}" in log and f"Using the GENERATED split {split_path}" in log
    for a, b in ((first.train_x, second.train_x), (first.val, second.val), (first.test, second.test)):
        assert [(d.impath, d.label, d.classname) for d in a] == [(d.impath, d.label, d.classname) for d in b]


@pytest.mark.parametrize("name", sorted(EXPECTED_SIZES))
def test_base_new_partition(data_root, name):
    needs(name)
    expected = BUILDERS[name](data_root)
    m = math.ceil(len(expected) / 2)
    base = build(data_root, name, subsample="base")
    new = build(data_root, name, subsample="new")

    assert base.classnames == expected[:m] and base.base_classnames == expected[:m]
    assert new.classnames == expected[m:] and new.new_classnames == expected[m:]
    for ds, n in ((base, m), (new, len(expected) - m)):
        for items in (ds.train_x, ds.val, ds.test):
            assert sorted(set(labels(items))) == list(range(n))
    assert not set(paths(base.test)) & set(paths(new.test))


def test_caltech_ignores_background_and_hidden_files(data_root):
    BUILDERS["Caltech101"](data_root)
    ds = build(data_root, "Caltech101")
    every = paths(ds.train_x) + paths(ds.val) + paths(ds.test)
    assert not any("BACKGROUND_Google" in p or "Faces_easy" in p or ".DS_Store" in p for p in every)
    assert ds.classnames[:3] == ["face", "leopard", "motorbike"]  # capitalised folders sort first


def test_stanford_cars_split_paths_are_relative_to_the_dataset_folder(data_root):
    needs("StanfordCars")
    BUILDERS["StanfordCars"](data_root)
    build(data_root, "StanfordCars")
    split = json.loads((data_root / "stanford_cars" / "split_generated_StanfordCars.json").read_text())
    assert {rel.split("/")[0] for rel, _, _ in split["train"] + split["val"]} == {"cars_train"}
    assert {rel.split("/")[0] for rel, _, _ in split["test"]} == {"cars_test"}


def test_fgvc_aircraft_uses_official_lists_and_writes_no_split(data_root):
    BUILDERS["FGVCAircraft"](data_root)
    ds = build(data_root, "FGVCAircraft")
    assert not list((data_root / "fgvc_aircraft").glob("split_zhou_*.json"))
    val_ids = {line.split()[0] for line in (data_root / "fgvc_aircraft" / "images_variant_val.txt").open()}
    assert {os.path.basename(p)[:-4] for p in paths(ds.val)} == val_ids


def test_root_may_be_the_dataset_folder_itself(data_root):
    # DPC / CAPT commands pass --root DATA/<dataset folder>
    expected = BUILDERS["DescribableTextures"](data_root)
    ds = build(data_root / "dtd", "DescribableTextures")
    assert ds.classnames == expected
    assert ds.dataset_dir == str(data_root / "dtd")


# ------------------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(EXPECTED_SIZES))
def test_missing_dataset_folder_names_path_and_docs(data_root, name):
    with pytest.raises(FileNotFoundError) as err:
        build(data_root, name)
    message = str(err.value)
    assert str(data_root / FOLDERS[name]) in message
    assert "DATASETS.md" in message and f'"{name}"' in message


def test_missing_image_folder_is_named(data_root):
    (data_root / "dtd").mkdir()
    with pytest.raises(FileNotFoundError, match=r"image folder not found at .*dtd[/\\]images"):
        build(data_root, "DescribableTextures")


def test_split_listing_missing_images_counts_and_shows_them(data_root):
    BUILDERS["Food101"](data_root)
    ds = build(data_root, "Food101")
    gone = paths(ds.test)[:2] + paths(ds.train_x)[:1]
    for p in gone:
        os.remove(p)
    with pytest.raises(MissingImagesError) as err:
        build(data_root, "Food101")
    message = str(err.value)
    assert "split_generated_Food101.json" in message
    total = len(ds.train_x) + len(ds.val) + len(ds.test)
    assert f"3 of the {total} image files" in message
    assert f"train: 1 of {len(ds.train_x)}, val: 0 of {len(ds.val)}, test: 2 of {len(ds.test)}" in message
    assert os.path.basename(gone[0]) in message
    assert "DATASETS.md" in message


def test_split_file_that_does_not_match_the_images_on_disk(data_root):
    BUILDERS["DescribableTextures"](data_root)
    build(data_root, "DescribableTextures")
    split_path = data_root / "dtd" / "split_generated_DescribableTextures.json"
    split = json.loads(split_path.read_text())
    # A split made for a different copy of the data: eight entries that do not exist here.
    split["train"] += [[f"banded/other_{i}.jpg", 0, "banded"] for i in range(8)]
    split_path.write_text(json.dumps(split))
    with pytest.raises(MissingImagesError) as err:
        build(data_root, "DescribableTextures")
    message = str(err.value)
    total = sum(len(split[k]) for k in ("train", "val", "test"))
    assert f"8 of the {total} image files" in message and f"train: 8 of {len(split['train'])}" in message
    assert "other_0.jpg" in message and "... and 3 more" in message
    assert err.value.total == total and len(err.value.missing) == 8


def test_annotation_listing_a_missing_image(data_root):
    BUILDERS["OxfordPets"](data_root)
    os.remove(data_root / "oxford_pets" / "images" / "Bengal_3.jpg")
    with pytest.raises(MissingImagesError, match=r"1 of the 50 image files listed by .*trainval.txt") as err:
        build(data_root, "OxfordPets")
    assert "Bengal_3.jpg" in str(err.value)


def test_missing_annotation_file_is_named(data_root):
    BUILDERS["OxfordPets"](data_root)
    os.remove(data_root / "oxford_pets" / "annotations" / "test.txt")
    with pytest.raises(FileNotFoundError, match=r"annotations/test.txt not found at .*test.txt.*DATASETS.md"):
        build(data_root, "OxfordPets")


def test_malformed_split_json(data_root):
    BUILDERS["DescribableTextures"](data_root)
    build(data_root, "DescribableTextures")
    split_path = data_root / "dtd" / "split_generated_DescribableTextures.json"
    split = json.loads(split_path.read_text())
    del split["val"]
    split_path.write_text(json.dumps(split))
    with pytest.raises(KeyError, match='no "val" list'):
        build(data_root, "DescribableTextures")
    split_path.write_text("{not json")
    with pytest.raises(ValueError, match="is not valid JSON"):
        build(data_root, "DescribableTextures")


def test_too_few_images_for_a_split(data_root):
    BUILDERS["DescribableTextures"](data_root, per_class=3)  # 2 / 1 / 0 -> no test image
    with pytest.raises(ValueError, match=r"banded has 3 images, which gives 2/1/0"):
        build(data_root, "DescribableTextures")


@pytest.mark.parametrize("name", sorted(NEEDS_SCIPY))
def test_matlab_files_without_scipy_fail_clearly(data_root, name, monkeypatch):
    needs(name)
    BUILDERS[name](data_root)
    monkeypatch.setitem(sys.modules, "scipy.io", None)  # makes `from scipy.io import ...` fail
    with pytest.raises(ImportError, match=r"needs SciPy \(pip install scipy\)"):
        build(data_root, name)


def test_unknown_subsample_value(data_root):
    BUILDERS["DescribableTextures"](data_root)
    with pytest.raises(ValueError, match=r"DATASET.SUBSAMPLE_CLASSES must be one of .*'novel'"):
        build(data_root, "DescribableTextures", subsample="novel")


def test_copied_tree_works_after_moving(data_root, tmp_path):
    # Split files hold relative paths, so a moved data root needs nothing rebuilt.
    BUILDERS["EuroSAT"](data_root)
    first = build(data_root, "EuroSAT")
    moved = tmp_path / "elsewhere"
    shutil.move(str(data_root), str(moved))
    second = build(moved, "EuroSAT")
    assert [os.path.relpath(p, moved) for p in paths(second.test)] == [
        os.path.relpath(p, data_root) for p in paths(first.test)
    ]
