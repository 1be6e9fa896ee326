"""Few-shot caches: determinism, on-disk format (upstream Dassl pickles), loading and rebasing."""

import os
import pickle
import pickletools
import shutil
from collections import Counter

import pytest
from dataset_trees import build, labels, paths

from dassl.data.datasets import Datum
from datasets.splits import MissingImagesError
from datasets.synthetic import BUILDERS

NAME = "Food101"  # 5 classes, 3 base / 2 new


@pytest.fixture
def food(data_root):
    BUILDERS[NAME](data_root, per_class=30)  # 15 train / 6 val / 9 test per class
    build(data_root, NAME)  # writes the split file, so every run below reads the same split
    return data_root


def cache_file(root, shots, seed):
    path = root / "food-101" / "split_fewshot" / f"shot_{shots}-seed_{seed}.pkl"
    path.parent.mkdir(exist_ok=True)
    return path


def test_fewshot_sizes_and_cache_file(food, capsys):
    ds = build(food, NAME, num_shots=5, seed=1)
    assert Counter(labels(ds.train_x)) == {y: 5 for y in range(5)}
    assert Counter(labels(ds.val)) == {y: 4 for y in range(5)}  # min(K, 4)
    assert Counter(labels(ds.test)) == {y: 9 for y in range(5)}  # test is never sampled
    path = cache_file(food, 5, 1)
    assert path.is_file()
    assert f"Saving preprocessed few-shot data to {path}" in capsys.readouterr().out


def test_same_seed_same_sample_different_seed_different_sample(food, capsys):
    first = build(food, NAME, num_shots=3, seed=1)
    os.remove(cache_file(food, 3, 1))
    again = build(food, NAME, num_shots=3, seed=1)
    other = build(food, NAME, num_shots=3, seed=2)
    assert paths(again.train_x) == paths(first.train_x) and paths(again.val) == paths(first.val)
    assert paths(other.train_x) != paths(first.train_x)
    assert cache_file(food, 3, 2).is_file()


def test_cache_is_reused_whatever_the_rng_state(food, capsys):
    first = build(food, NAME, num_shots=3, seed=1)
    capsys.readouterr()
    reloaded = build(food, NAME, num_shots=3, seed=1)
    assert "Loading preprocessed few-shot data from" in capsys.readouterr().out
    assert paths(reloaded.train_x) == paths(first.train_x)


def test_base_and_new_runs_share_one_sample(food):
    full = build(food, NAME, num_shots=4, seed=1)
    base = build(food, NAME, num_shots=4, seed=1, subsample="base")
    new = build(food, NAME, num_shots=4, seed=1, subsample="new")
    assert paths(base.train_x) == [d.impath for d in full.train_x if d.label < 3]
    assert paths(new.train_x) == [d.impath for d in full.train_x if d.label >= 3]
    assert sorted(set(labels(new.train_x))) == [0, 1]


def test_cache_holds_upstream_datum_objects(food):
    build(food, NAME, num_shots=2, seed=1)
    raw = cache_file(food, 2, 1).read_bytes()
    # Highest protocol, and the class is referenced by Dassl's module path.
    first_op, protocol, _ = next(pickletools.genops(raw))
    assert first_op.name == "PROTO" and protocol == pickle.HIGHEST_PROTOCOL
    assert b"dassl.data.datasets.base_dataset" in raw and b"Datum" in raw
    data = pickle.loads(raw)
    assert set(data) == {"train", "val"}
    item = data["train"][0]
    assert type(item).__module__ == "dassl.data.datasets.base_dataset" and type(item).__name__ == "Datum"
    assert set(vars(item)) == {"_impath", "_label", "_domain", "_classname"}
    assert os.path.isabs(item._impath) and os.path.isfile(item._impath)


def _upstream_datum(impath, label, classname):
    """A Datum as real Dassl pickles it: only the four attributes, no constructor run."""
    item = Datum.__new__(Datum)
    item.__dict__.update({"_impath": impath, "_label": label, "_domain": 0, "_classname": classname})
    return item


def test_cache_written_by_upstream_code_loads_and_is_rebased(food, tmp_path, capsys):
    ds = build(food, NAME)
    old_root = "/mnt/old_machine/DATA"
    chosen = [d for d in ds.train_x if d.label in (0, 4)][:4]
    stale = [_upstream_datum(d.impath.replace(str(food), old_root), d.label, d.classname) for d in chosen]
    path = cache_file(food, 2, 7)
    with open(path, "wb") as f:
        pickle.dump({"train": stale, "val": stale[:2]}, f, protocol=2)
    capsys.readouterr()

    loaded = build(food, NAME, num_shots=2, seed=7)
    log = capsys.readouterr().out
    assert f"Loading preprocessed few-shot data from {path}" in log
    assert f'Rebased 4 of 4 paths of "train" of {path}' in log
    assert paths(loaded.train_x) == paths(chosen)
    assert [(d.label, d.classname) for d in loaded.train_x] == [(d.label, d.classname) for d in chosen]
    assert paths(loaded.val) == paths(chosen[:2])
    assert pickle.loads(path.read_bytes())["train"][0]._impath.startswith(old_root)  # file left as it was


def test_cache_with_unrecoverable_paths_fails_clearly(food):
    stale = [_upstream_datum(f"/gone/food-101/images/nowhere/{i}.jpg", 0, "apple_pie") for i in range(3)]
    path = cache_file(food, 2, 8)
    with open(path, "wb") as f:
        pickle.dump({"train": stale, "val": stale}, f)
    with pytest.raises(
        MissingImagesError, match=r"3 of the 3 image files listed by the \"train\" list of .*seed_8"
    ):
        build(food, NAME, num_shots=2, seed=8)


def test_unreadable_or_wrong_cache_fails_clearly(food):
    path = cache_file(food, 2, 9)
    path.write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match=r"Cannot read the cache file .*shot_2-seed_9.pkl"):
        build(food, NAME, num_shots=2, seed=9)
    with open(path, "wb") as f:
        pickle.dump({"train": []}, f)
    with pytest.raises(ValueError, match=r"must hold a dict with keys \['train', 'val'\], found \['train'\]"):
        build(food, NAME, num_shots=2, seed=9)


def test_zero_shots_uses_the_whole_train_split(food):
    ds = build(food, NAME, num_shots=0)
    assert len(ds.train_x) == 5 * 15
    assert not (food / "food-101" / "split_fewshot").exists()  # nothing is written without a sample


def test_moved_root_with_caches(food, tmp_path, capsys):
    first = build(food, NAME, num_shots=2, seed=1)
    moved = tmp_path / "moved"
    shutil.move(str(food), str(moved))
    second = build(moved, NAME, num_shots=2, seed=1)
    assert "Rebased" in capsys.readouterr().out
    assert [os.path.relpath(p, moved) for p in paths(second.train_x)] == [
        os.path.relpath(p, food) for p in paths(first.train_x)
    ]
