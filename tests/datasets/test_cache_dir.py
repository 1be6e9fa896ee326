"""DATASET.CACHE_DIR: shared or read-only data trees are never written to; generated splits are announced.

Tests run as root here, which ignores permission bits, so a read-only data tree is simulated: every attempt to
create a file or folder below it fails with EROFS, as on a read-only mount.
"""

import errno
import json
import os
import shutil

import pytest
from dataset_trees import build, paths

import dassl.atomic_io
from datasets.splits import CacheWriteError
from datasets.synthetic import BUILDERS

NAME, FOLDER = "DescribableTextures", "dtd"


def snapshot(folder):
    return sorted(os.path.relpath(os.path.join(d, f), folder) for d, _, fs in os.walk(folder) for f in fs)


@pytest.fixture
def read_only(monkeypatch):
    """``read_only(folder)``: from now on, creating files or folders below ``folder`` fails (EROFS)."""

    def make(folder):
        folder = os.path.abspath(folder)

        def refuse(path):
            path = os.path.abspath(path)
            if path == folder or path.startswith(folder + os.sep):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)

        real_mkstemp, real_makedirs, real_mkdir = (dassl.atomic_io.tempfile.mkstemp, os.makedirs, os.mkdir)

        def mkstemp(*args, dir=None, **kwargs):
            refuse(os.path.join(dir or ".", "x"))
            return real_mkstemp(*args, dir=dir, **kwargs)

        def makedirs(name, *args, **kwargs):
            if not os.path.isdir(name):
                refuse(name)
            return real_makedirs(name, *args, **kwargs)

        def mkdir(name, *args, **kwargs):
            refuse(name)
            return real_mkdir(name, *args, **kwargs)

        monkeypatch.setattr(dassl.atomic_io.tempfile, "mkstemp", mkstemp)
        monkeypatch.setattr(os, "makedirs", makedirs)
        monkeypatch.setattr(os, "mkdir", mkdir)

    return make


def test_read_only_tree_with_cache_dir(data_root, tmp_path, read_only, capsys):
    BUILDERS[NAME](data_root)
    before = snapshot(data_root)
    cache = tmp_path / "cache"
    read_only(data_root)

    ds = build(data_root, NAME, num_shots=2, seed=1, cache_dir=cache)

    assert snapshot(data_root) == before  # nothing written below the data root
    generated = cache / FOLDER / f"split_generated_{NAME}.json"
    fewshot = cache / FOLDER / "split_fewshot" / "shot_2-seed_1.pkl"
    assert snapshot(cache) == sorted(os.path.relpath(p, cache) for p in (generated, fewshot))
    assert all(p.startswith(str(data_root)) for p in paths(ds.train_x))  # images still come from the tree
    log = capsys.readouterr().out
    assert f"Saving preprocessed few-shot data to {fewshot}" in log and f"Saved it as {generated}" in log

    again = build(data_root, NAME, num_shots=2, seed=1, cache_dir=cache)  # later runs read the cache
    assert paths(again.train_x) == paths(ds.train_x)
    assert f"Loading preprocessed few-shot data from {fewshot}" in capsys.readouterr().out


def test_read_only_tree_without_cache_dir_says_what_to_set(data_root, read_only):
    BUILDERS[NAME](data_root)
    read_only(data_root)
    with pytest.raises(CacheWriteError) as err:
        build(data_root, NAME)
    message = str(err.value)
    assert str(data_root / FOLDER / f"split_generated_{NAME}.json") in message
    assert "DATASET.CACHE_DIR" in message and "Read-only file system" in message


def test_zero_shot_runs_write_nothing_once_the_split_exists(data_root, read_only):
    BUILDERS[NAME](data_root)
    build(data_root, NAME)  # the split, made once by whoever prepares the tree
    before = snapshot(data_root)
    read_only(data_root)
    build(data_root, NAME, num_shots=0)  # upstream made split_fewshot/ here on every run
    assert snapshot(data_root) == before and not (data_root / FOLDER / "split_fewshot").exists()


def test_published_caches_in_the_tree_are_read_with_a_cache_dir(data_root, tmp_path, capsys):
    BUILDERS[NAME](data_root)
    first = build(data_root, NAME, num_shots=2, seed=1)  # caches inside the tree, as upstream lays them out
    cache = tmp_path / "cache"
    capsys.readouterr()
    second = build(data_root, NAME, num_shots=2, seed=1, cache_dir=cache)
    log = capsys.readouterr().out
    assert f"Loading preprocessed few-shot data from {data_root / FOLDER / 'split_fewshot'}" in log
    assert f"Using the GENERATED split {data_root / FOLDER / f'split_generated_{NAME}.json'}" in log
    assert paths(second.train_x) == paths(first.train_x)
    assert not cache.exists()


def test_the_official_split_wins_over_a_generated_one(data_root, capsys):
    BUILDERS[NAME](data_root)
    build(data_root, NAME)
    folder = data_root / FOLDER
    official = json.loads((folder / f"split_generated_{NAME}.json").read_text())
    del official["generated"]
    official["train"], official["val"] = official["val"], official["train"]  # a recognisably different split
    (folder / f"split_zhou_{NAME}.json").write_text(json.dumps(official))
    capsys.readouterr()
    ds = build(data_root, NAME)
    log = capsys.readouterr().out
    assert f"Reading split from {folder / f'split_zhou_{NAME}.json'}" in log and "GENERATED" not in log
    assert len(ds.train_x) == len(official["train"])


def test_generated_split_names_how_it_was_made(data_root, tmp_path, capsys):
    BUILDERS[NAME](data_root)
    build(data_root, NAME, seed=7, cache_dir=tmp_path / "cache")
    path = tmp_path / "cache" / FOLDER / f"split_generated_{NAME}.json"
    record = json.loads(path.read_text())["generated"]
    assert record["seed"] == 7 and record["source"] == str(data_root / FOLDER)
    assert "SEED 7" in record["procedure"] and f"{NAME}.generate_split" in record["procedure"]
    log = capsys.readouterr().out
    official = data_root / FOLDER / f"split_zhou_{NAME}.json"
    assert f"GENERATED a split for {NAME}: no official split file {official}" in log
    assert record["procedure"] in log


def test_imagenet_list_cache_goes_to_the_cache_dir(data_root, tmp_path, read_only):
    BUILDERS["ImageNet"](data_root)
    before = snapshot(data_root)
    read_only(data_root)
    build(data_root, "ImageNet", num_shots=1, cache_dir=tmp_path / "cache")
    assert snapshot(data_root) == before
    assert (tmp_path / "cache" / "imagenet" / "preprocessed.pkl").is_file()
    assert (tmp_path / "cache" / "imagenet" / "split_fewshot" / "shot_1-seed_1.pkl").is_file()


def test_a_tree_copied_elsewhere_keeps_its_generated_split(data_root, tmp_path):
    BUILDERS[NAME](data_root)
    first = build(data_root, NAME)
    copy = tmp_path / "copy"
    shutil.copytree(data_root, copy)
    second = build(copy, NAME)
    assert [os.path.relpath(p, copy) for p in paths(second.test)] == [
        os.path.relpath(p, data_root) for p in paths(first.test)
    ]
