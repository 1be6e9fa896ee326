"""The prepared Fashion-MNIST layout: format, disjoint parts, pixel fidelity, determinism, idempotence."""

import json
import os
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from tools.toy_world import source
from tools.toy_world.prepare import (
    CLASS_FOLDERS,
    CLASSNAMES,
    MARKER_FILE,
    POOL_FILE,
    SPLIT_FILE,
    PrepareConfig,
    divide,
    is_prepared,
    prepare,
)


def _load(root):
    directory = root / "fashion_mnist"
    split = json.loads((directory / SPLIT_FILE).read_text())
    pool = json.loads((directory / POOL_FILE).read_text())
    return directory, split, pool


def test_layout_and_json_format(small_root):
    directory, split, pool = _load(small_root)
    assert set(split) == {"train", "val", "test"} and set(pool) == {"pool"}
    assert [len(split["train"]), len(split["val"]), len(split["test"]), len(pool["pool"])] == [20, 20, 20, 30]
    text = (directory / SPLIT_FILE).read_text()
    assert text.startswith('{\n    "train": [\n        [\n            "')  # 4-space indentation
    for part, entries in [*split.items(), *pool.items()]:
        for path, label, classname in entries:
            assert isinstance(label, int) and 0 <= label < 10
            assert classname == CLASSNAMES[label]
            folder, name = path.split("/")
            assert folder == CLASS_FOLDERS[label] and not path.startswith("/")
            assert name.startswith("test_" if part == "test" else "train_") and name.endswith(".png")
            assert (directory / "images" / path).is_file()
        assert (
            sorted(np.bincount([e[1] for e in entries], minlength=10).tolist()) == [len(entries) // 10] * 10
        )
    assert CLASSNAMES[9] == "ankle boot" and CLASS_FOLDERS[9] == "ankle_boot"
    marker = json.loads((directory / MARKER_FILE).read_text())
    assert marker["config"]["pool_per_class"] == 3 and marker["counts"]["pool"] == 30


def test_pool_and_downstream_splits_are_disjoint(small_root):
    _, split, pool = _load(small_root)
    parts = {name: {e[0] for e in entries} for name, entries in [*split.items(), *pool.items()]}
    names = list(parts)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not parts[a] & parts[b], f"{a} and {b} share images"
    all_images = {
        p.relative_to(small_root / "fashion_mnist" / "images").as_posix()
        for p in (small_root / "fashion_mnist" / "images").rglob("*.png")
    }
    assert all_images == set().union(*parts.values())


def test_pngs_hold_the_original_pixels(small_root, fmnist_dir):
    data = source.read_dir(fmnist_dir)
    directory, split, _ = _load(small_root)
    for part, images, labels in (
        ("train", data.train_images, data.train_labels),
        ("test", data.test_images, data.test_labels),
    ):
        path, label, _ = split[part][0]
        index = int(path.split("_")[-1].split(".")[0])
        with Image.open(directory / "images" / path) as image:
            assert image.mode == "L" and image.size == (28, 28)
            np.testing.assert_array_equal(np.asarray(image), images[index])
        assert labels[index] == label


def test_divide_is_stratified_seeded_and_complete():
    labels = np.repeat(np.arange(10), 20)
    config = PrepareConfig(seed=5, pool_per_class=10, train_per_class=6)
    parts = divide(labels, config)
    assert [len(parts[k]) for k in ("pool", "train", "val")] == [100, 60, 40]  # val = the rest
    assert sorted(np.concatenate(list(parts.values())).tolist()) == list(range(200))
    again = divide(labels, config)
    assert all(np.array_equal(parts[k], again[k]) for k in parts)
    other = divide(labels, replace(config, seed=6))
    assert not np.array_equal(parts["pool"], other["pool"])


def test_same_seed_same_files_other_seed_other_split(tmp_path, fmnist_dir, small_root, small_config):
    prepare(tmp_path / "a", small_config, source=fmnist_dir, workers=2, verbose=False)
    for name in (SPLIT_FILE, POOL_FILE):
        assert (tmp_path / "a" / "fashion_mnist" / name).read_bytes() == (
            small_root / "fashion_mnist" / name
        ).read_bytes()
    first = json.loads((small_root / "fashion_mnist" / SPLIT_FILE).read_text())["train"][0][0]
    assert (tmp_path / "a" / "fashion_mnist" / "images" / first).read_bytes() == (
        small_root / "fashion_mnist" / "images" / first
    ).read_bytes()
    prepare(tmp_path / "b", replace(small_config, seed=4), source=fmnist_dir, workers=1, verbose=False)
    _, split_a, _ = _load(tmp_path / "a")
    _, split_b, _ = _load(tmp_path / "b")
    assert split_a["train"] != split_b["train"]


def test_second_run_is_a_no_op_and_config_changes_need_force(tmp_path, fmnist_dir, small_config):
    root = tmp_path / "root"
    directory = prepare(root, small_config, source=fmnist_dir, workers=1, verbose=False)
    marker = directory / MARKER_FILE
    stamp = marker.stat().st_mtime_ns
    assert is_prepared(root, small_config) and not is_prepared(root, replace(small_config, seed=9))
    prepare(root, small_config, source=fmnist_dir, workers=1, verbose=False)
    assert marker.stat().st_mtime_ns == stamp
    with pytest.raises(FileExistsError, match="--force"):
        prepare(root, replace(small_config, seed=9), source=fmnist_dir, workers=1, verbose=False)
    prepare(root, replace(small_config, seed=9), force=True, source=fmnist_dir, workers=1, verbose=False)
    assert json.loads(marker.read_text())["config"]["seed"] == 9
    assert sorted(os.listdir(root)) == ["fashion_mnist"]  # no temporary or old copies left behind


def test_unknown_directory_is_not_overwritten_and_stale_partials_are_removed(
    tmp_path, fmnist_dir, small_config
):
    root = tmp_path / "root"
    (root / "fashion_mnist").mkdir(parents=True)
    (root / "fashion_mnist" / "mine.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="no prepared.json"):
        prepare(root, small_config, source=fmnist_dir, workers=1, verbose=False)
    (root / "fashion_mnist" / "mine.txt").unlink()
    stale = root / ".fashion_mnist.partial-999999999"
    (stale / "images").mkdir(parents=True)
    prepare(root, small_config, source=fmnist_dir, workers=1, verbose=False)
    assert not stale.exists() and is_prepared(root, small_config)


@pytest.mark.parametrize(
    "config, message",
    [
        (PrepareConfig(pool_per_class=5000, train_per_class=1000), "exceed"),
        (PrepareConfig(pool_per_class=0), ">= 1"),
        (PrepareConfig(test_per_class=1001), "test_per_class"),
    ],
)
def test_invalid_sizes_are_rejected(tmp_path, config, message):
    with pytest.raises(ValueError, match=message):
        prepare(tmp_path, config, verbose=False)
