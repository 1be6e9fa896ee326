"""Unit tests of datasets.splits: split files, split generation, few-shot sampling, subsampling, rebasing."""

import json
import os
import random

import pytest

from dassl.data.datasets import DatasetBase, Datum
from datasets.splits import (
    MissingImagesError,
    base_new_labels,
    check_files_exist,
    fewshot_cache_path,
    num_base_classes,
    read_and_split_data,
    read_split,
    rebase_items,
    sample_fewshot,
    save_split,
    split_trainval,
    subsample_classes,
)
from datasets.synthetic import write_image


def make_data(folder, n_per_label, n_labels, prefix="img"):
    """Datum list with ``n_per_label`` files per label (labels 0..n_labels-1, interleaved)."""
    items = []
    for i in range(n_per_label):
        for y in range(n_labels):
            path = write_image(folder / f"c{y}" / f"{prefix}_{i}.jpg")
            items.append(Datum(impath=str(path), label=y, classname=f"class_{y}"))
    return items


def triples(items):
    return [(d.impath, d.label, d.classname) for d in items]


# ------------------------------------------------------------------------------------------------------
# Split JSON
# ------------------------------------------------------------------------------------------------------
def test_save_then_read_split_round_trip(tmp_path):
    items = make_data(tmp_path / "images", 3, 2)
    path = tmp_path / "split_zhou_X.json"
    save_split(items[:2], items[2:4], items[4:], str(path), str(tmp_path / "images"))

    text = path.read_text()
    assert (
        '\n    "train": [\n        [\n            "c0/img_0.jpg",' in text
    )  # 4-space indent, relative paths
    assert not any(line.endswith(" ") for line in text.splitlines())
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]  # atomic write left no temp file
    raw = json.loads(text)
    assert raw["val"] == [["c0/img_1.jpg", 0, "class_0"], ["c1/img_1.jpg", 1, "class_1"]]

    train, val, test = read_split(str(path), str(tmp_path / "images"))
    assert triples(train) == triples(items[:2])
    assert triples(val) == triples(items[2:4])
    assert triples(test) == triples(items[4:])


def test_save_split_rejects_items_outside_the_prefix(tmp_path):
    items = make_data(tmp_path / "a", 1, 1)
    with pytest.raises(ValueError, match="is not under"):
        save_split(items, items, items, str(tmp_path / "s.json"), str(tmp_path / "b"))


def test_read_split_rejects_bad_entries(tmp_path):
    path = tmp_path / "split.json"
    path.write_text(json.dumps({"train": [["x.jpg", 0]], "val": [], "test": []}))
    with pytest.raises(
        ValueError, match=r'entry 0 of "train" is .*expected \[relative_path, label, classname\]'
    ):
        read_split(str(path), str(tmp_path))
    path.write_text(json.dumps([1, 2]))
    with pytest.raises(ValueError, match="must hold a JSON object"):
        read_split(str(path), str(tmp_path))


def test_check_files_exist_counts_and_lists(tmp_path):
    present = str(write_image(tmp_path / "ok.jpg"))
    missing = [str(tmp_path / f"gone_{i}.jpg") for i in range(7)]
    with pytest.raises(MissingImagesError) as err:
        check_files_exist([present, *missing], "the test list", hint="See the docs.")
    message = str(err.value)
    assert message.startswith("7 of the 8 image files listed by the test list do not exist")
    assert "gone_0.jpg" in message and "gone_4.jpg" in message and "gone_5.jpg" not in message
    assert "... and 2 more" in message and message.endswith("See the docs.")
    check_files_exist([present], "fine")  # no error


# ------------------------------------------------------------------------------------------------------
# Split generation
# ------------------------------------------------------------------------------------------------------
def test_split_trainval_rounds_per_label_and_uses_global_random(tmp_path):
    items = make_data(tmp_path, 13, 2)  # 13 per label: round(2.6) = 3 val
    random.seed(0)
    train, val = split_trainval(items)
    assert sorted(d.label for d in val) == [0, 0, 0, 1, 1, 1]
    assert len(train) == 20 and not set(map(id, train)) & set(map(id, val))
    random.seed(0)
    assert [d.impath for d in split_trainval(items)[1]] == [d.impath for d in val]
    random.seed(1)
    assert [d.impath for d in split_trainval(items)[1]] != [d.impath for d in val]


def test_split_trainval_needs_one_val_image_per_label(tmp_path):
    items = make_data(tmp_path, 2, 1)  # round(0.4) = 0
    with pytest.raises(ValueError, match="Label 0 has only 2 train\\+val images"):
        split_trainval(items)


def test_read_and_split_data_order_rounding_and_renames(tmp_path):
    image_dir = tmp_path / "images"
    for folder, n in (("zebra", 7), ("Apple", 5), ("mango", 6), ("skip_me", 4)):
        for i in range(n):
            write_image(image_dir / folder / f"{i}.jpg")
    (image_dir / ".hidden").mkdir()
    (image_dir / "zebra" / ".DS_Store").write_bytes(b"x")

    random.seed(3)
    train, val, test = read_and_split_data(str(image_dir), ignored=["skip_me"], new_cnames={"Apple": "apple"})
    # Plain string order puts upper case first: Apple, mango, zebra.
    names = {d.label: d.classname for d in train}
    assert names == {0: "apple", 1: "mango", 2: "zebra"}

    def count(items, y):
        return sum(d.label == y for d in items)

    # 5 -> round(2.5)=2 / round(1.0)=1 / 2 ; 6 -> 3 / round(1.2)=1 / 2 ; 7 -> round(3.5)=4 / round(1.4)=1 / 2
    assert [(count(train, y), count(val, y), count(test, y)) for y in range(3)] == [
        (2, 1, 2),
        (3, 1, 2),
        (4, 1, 2),
    ]
    assert not any(".DS_Store" in d.impath for d in train + val + test)

    random.seed(3)
    again = read_and_split_data(str(image_dir), ignored=["skip_me"], new_cnames={"Apple": "apple"})
    assert [triples(x) for x in again] == [triples(train), triples(val), triples(test)]


# ------------------------------------------------------------------------------------------------------
# Few-shot sampling
# ------------------------------------------------------------------------------------------------------
def test_sample_fewshot_matches_dassl_generate_fewshot_dataset(tmp_path):
    items = make_data(tmp_path, 9, 4)
    random.seed(7)
    ours = sample_fewshot(items, 3)
    random.seed(7)
    dassl = DatasetBase.generate_fewshot_dataset(DatasetBase.__new__(DatasetBase), items, num_shots=3)
    assert [d.impath for d in ours] == [d.impath for d in dassl]
    assert sorted(d.label for d in ours) == [y for y in range(4) for _ in range(3)]


def test_sample_fewshot_keeps_small_classes_and_ignores_nonpositive_shots(tmp_path):
    items = make_data(tmp_path, 2, 2)
    assert len(sample_fewshot(items, 5)) == 4
    assert sample_fewshot(items, 0) == items
    assert sample_fewshot(items, -1) == items


def test_fewshot_cache_path_format():
    assert fewshot_cache_path("/d/split_fewshot", 16, 1).endswith(
        os.path.join("split_fewshot", "shot_16-seed_1.pkl")
    )
    assert fewshot_cache_path("x", 4, -1).endswith("shot_4-seed_-1.pkl")


# ------------------------------------------------------------------------------------------------------
# Base / new
# ------------------------------------------------------------------------------------------------------
def test_base_new_labels_ceil_half():
    assert base_new_labels([4, 0, 1, 2, 3, 1]) == ([0, 1, 2], [3, 4])
    assert base_new_labels(range(37)) == (list(range(19)), list(range(19, 37)))


def test_num_base_classes_rounds_an_odd_count_up_and_rejects_a_negative_one():
    assert [num_base_classes(n) for n in (0, 1, 2, 5, 10, 37, 100)] == [0, 1, 1, 3, 5, 19, 50]
    with pytest.raises(ValueError, match="-1"):
        num_base_classes(-1)


def test_subsample_classes(tmp_path):
    train = make_data(tmp_path / "tr", 2, 5)
    test = make_data(tmp_path / "te", 1, 5)
    assert subsample_classes(train, test, subsample="all") == (train, test)

    base_train, base_test = subsample_classes(train, test, subsample="base")
    assert sorted({d.label for d in base_train}) == [0, 1, 2]
    assert [d.classname for d in base_test] == ["class_0", "class_1", "class_2"]

    new_train, new_test = subsample_classes(train, test, subsample="new")
    assert sorted({(d.label, d.classname) for d in new_train}) == [(0, "class_3"), (1, "class_4")]
    assert all(isinstance(d, Datum) and d.domain == 0 for d in new_test)
    assert all(d.label == y for d, y in zip(train, [0, 1, 2, 3, 4] * 2))  # inputs untouched


def test_subsample_uses_the_label_set_of_the_first_list(tmp_path):
    train = make_data(tmp_path / "tr", 1, 2)  # labels 0, 1 -> base = [0]
    test = make_data(tmp_path / "te", 1, 4)
    (only,) = subsample_classes(test, subsample="base")
    assert {d.label for d in only} == {0, 1}
    _, base_test = subsample_classes(train, test, subsample="base")
    assert [d.classname for d in base_test] == ["class_0"]


def test_subsample_rejects_unknown_values(tmp_path):
    with pytest.raises(ValueError, match="must be one of \\['all', 'base', 'new'\\], got 'half'"):
        subsample_classes([], subsample="half")


# ------------------------------------------------------------------------------------------------------
# Rebasing absolute paths of a moved data root
# ------------------------------------------------------------------------------------------------------
def _stale(path, old_root, new_root):
    item = Datum.__new__(Datum)
    item.__dict__.update(
        _impath=str(path).replace(str(new_root), str(old_root)), _label=1, _domain=2, _classname="c"
    )
    return item


def test_rebase_items_maps_old_prefix_onto_dataset_dir(tmp_path, capsys):
    new_root = tmp_path / "new" / "dtd"
    files = [write_image(new_root / "images" / "banded" / f"{i}.jpg") for i in range(3)]
    old_root = "/somewhere/else/dtd"
    items = [_stale(p, old_root, new_root) for p in files]
    fresh = Datum(impath=str(files[0]), label=0, classname="banded")

    out = rebase_items([*items, fresh], str(new_root), "the cache")
    assert [d.impath for d in out] == [str(p) for p in files] + [str(files[0])]
    assert (out[0].label, out[0].domain, out[0].classname) == (1, 2, "c")
    assert out[-1] is fresh
    log = capsys.readouterr().out
    assert "Rebased 3 of 4 paths of the cache" in log and "/somewhere/else/dtd -> " in log


def test_rebase_items_leaves_unmatched_paths(tmp_path):
    new_root = tmp_path / "dtd"
    new_root.mkdir()
    item = _stale(tmp_path / "dtd" / "images" / "nothing.jpg", "/old/dtd", new_root)
    assert rebase_items([item], str(new_root), "x") == [item]


def test_limited_check_samples_evenly(tmp_path):
    from datasets.splits import find_missing

    present = str(write_image(tmp_path / "ok.jpg"))
    listed = [present if i % 10 else str(tmp_path / f"gone_{i}.jpg") for i in range(100)]
    missing, checked = find_missing(listed, limit=20)  # every 5th path: indices 0, 5, 10, ...
    assert checked == 20 and missing == [str(tmp_path / f"gone_{i}.jpg") for i in range(0, 100, 10)]
    assert len(find_missing(listed)[0]) == 10
    with pytest.raises(MissingImagesError, match="10 of the 20 checked of 100 image files"):
        check_files_exist(listed, "a big list", limit=20)


def test_atomic_writes_use_the_normal_file_mode(tmp_path):
    from datasets.splits import write_json_atomic

    old = os.umask(0o022)
    try:
        write_json_atomic({"a": 1}, str(tmp_path / "x.json"))
    finally:
        os.umask(old)
    assert (tmp_path / "x.json").stat().st_mode & 0o777 == 0o644
    assert json.loads((tmp_path / "x.json").read_text()) == {"a": 1}


def test_find_missing_in_a_listed_folder_matches_a_check_per_file(tmp_path):
    """Folders holding many of the checked paths are listed once; the answer is the per-file one: files
    and links to files exist, a folder or a dangling link under a listed name does not."""
    from datasets.splits import _LIST_FOLDER_FROM, find_missing

    folder = tmp_path / "images"
    folder.mkdir()
    present = [folder / f"{i}.png" for i in range(_LIST_FOLDER_FROM + 4)]
    for p in present:
        p.write_bytes(b"x")
    (folder / "link.png").symlink_to(present[0])
    (folder / "dangling.png").symlink_to(folder / "gone.png")
    (folder / "subfolder.png").mkdir()
    absent = [folder / "gone.png", folder / "dangling.png", folder / "subfolder.png",
              tmp_path / "other" / "a.png"]
    paths = [str(p) for p in [*present, folder / "link.png", *absent]]
    missing, checked = find_missing(paths)
    assert missing == [str(p) for p in absent] and checked == len(paths)
    assert missing == [p for p in paths if not os.path.isfile(p)]
