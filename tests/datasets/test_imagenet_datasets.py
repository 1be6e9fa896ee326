"""ImageNet (preprocessed.pkl, train-only few-shot cache) and the four test-only variants."""

import os
import pickle
import shutil
from collections import Counter

import pytest
from dataset_trees import build, labels, paths

from datasets.synthetic import BUILDERS, IMAGENET_CLASSES, SUBSET_WNIDS, write_image


@pytest.fixture
def imagenet(data_root):
    BUILDERS["ImageNet"](data_root)  # 5 classes, 6 train / 3 val images each
    return data_root


def test_imagenet_reads_folders_and_caches_them(imagenet, capsys):
    ds = build(imagenet, "ImageNet")
    assert ds.classnames == list(IMAGENET_CLASSES.values())
    assert Counter(labels(ds.train_x)) == {y: 6 for y in range(5)}
    assert Counter(labels(ds.test)) == {y: 3 for y in range(5)}
    assert paths(ds.val) == paths(ds.test)  # no val split: the test set doubles as val
    assert all("/images/val/" in p.replace(os.sep, "/") for p in paths(ds.test))
    assert ds.wnids == list(IMAGENET_CLASSES)

    pkl = imagenet / "imagenet" / "preprocessed.pkl"
    data = pickle.loads(pkl.read_bytes())
    assert set(data) == {"train", "test"}
    assert [d.impath for d in data["train"]] == paths(ds.train_x)

    # The cache is what later runs read: an image added afterwards is not picked up.
    write_image(imagenet / "imagenet" / "images" / "train" / "n01440764" / "late.JPEG")
    assert len(build(imagenet, "ImageNet").train_x) == 30


def test_imagenet_labels_follow_sorted_folders(imagenet):
    # classnames.txt in another order must not change the labels
    lines = (imagenet / "imagenet" / "classnames.txt").read_text().splitlines()
    (imagenet / "imagenet" / "classnames.txt").write_text("\n".join(reversed(lines)) + "\n")
    ds = build(imagenet, "ImageNet")
    assert ds.classnames == list(IMAGENET_CLASSES.values())


def test_imagenet_fewshot_cache_has_only_train(imagenet):
    ds = build(imagenet, "ImageNet", num_shots=2, seed=3)
    assert Counter(labels(ds.train_x)) == {y: 2 for y in range(5)}
    assert len(ds.test) == 15 and paths(ds.val) == paths(ds.test)
    cache = pickle.loads((imagenet / "imagenet" / "split_fewshot" / "shot_2-seed_3.pkl").read_bytes())
    assert set(cache) == {"train"}
    assert paths(build(imagenet, "ImageNet", num_shots=2, seed=3).train_x) == paths(ds.train_x)


def test_imagenet_base_new(imagenet):
    base = build(imagenet, "ImageNet", subsample="base")
    new = build(imagenet, "ImageNet", subsample="new")
    names = list(IMAGENET_CLASSES.values())
    assert base.classnames == names[:3] and new.classnames == names[3:]
    assert sorted(set(labels(new.test))) == [0, 1]
    promptkd = build(imagenet, "ImageNet", wiring="promptkd", num_shots=0)
    assert promptkd.num_classes == 5 and len(promptkd.val) == 9 and len(promptkd.test) == 6


def test_imagenet_preprocessed_survives_a_moved_root(imagenet, tmp_path, capsys):
    build(imagenet, "ImageNet")
    moved = tmp_path / "new_disk"
    shutil.move(str(imagenet), str(moved))
    ds = build(moved, "ImageNet")
    assert "Rebased 30 of 30 paths" in capsys.readouterr().out
    assert all(p.startswith(str(moved)) and os.path.isfile(p) for p in paths(ds.train_x + ds.test))


def test_imagenet_errors(data_root):
    with pytest.raises(FileNotFoundError, match=r"imagenet.*DATASETS.md, section \"ImageNet\""):
        build(data_root, "ImageNet")
    BUILDERS["ImageNet"](data_root)
    os.remove(data_root / "imagenet" / "classnames.txt")
    with pytest.raises(FileNotFoundError, match=r"classnames.txt not found at .*imagenet[/\\]classnames.txt"):
        build(data_root, "ImageNet")


def test_imagenet_folder_without_class_name(imagenet):
    write_image(imagenet / "imagenet" / "images" / "train" / "n99999999" / "x.JPEG")
    with pytest.raises(KeyError, match="has no class name for folder .*n99999999"):
        build(imagenet, "ImageNet")


# ------------------------------------------------------------------------------------------------------
# Variants
# ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["ImageNetV2", "ImageNetSketch"])
def test_thousand_class_variants(data_root, name):
    expected = BUILDERS[name](data_root)
    ds = build(data_root, name)
    assert ds.classnames == expected
    assert Counter(labels(ds.test)) == {y: 2 for y in range(5)}
    assert paths(ds.train_x) == paths(ds.test)
    assert not ds.val
    assert ds.wnids == list(IMAGENET_CLASSES)


def test_imagenetv2_label_is_the_folder_number(data_root):
    BUILDERS["ImageNetV2"](data_root)
    ds = build(data_root, "ImageNetV2")
    for d in ds.test:
        assert os.path.basename(os.path.dirname(d.impath)) == str(d.label)


@pytest.mark.parametrize("name", ["ImageNetA", "ImageNetR"])
def test_subset_variants_use_their_own_labels(data_root, name):
    expected = BUILDERS[name](data_root)
    ds = build(data_root, name)
    assert ds.classnames == expected  # README.txt is not a class
    assert ds.num_classes == 3 and ds.wnids == SUBSET_WNIDS
    assert Counter(labels(ds.test)) == {0: 2, 1: 2, 2: 2}


def test_variants_apply_subsample_classes(data_root):
    BUILDERS["ImageNetA"](data_root)
    ds = build(data_root, "ImageNetA", subsample="new")
    assert ds.classnames == [IMAGENET_CLASSES[SUBSET_WNIDS[2]]]
    assert set(labels(ds.test)) == {0}


@pytest.mark.parametrize(
    "name, folder",
    [
        ("ImageNetV2", "imagenetv2"),
        ("ImageNetSketch", "imagenet-sketch"),
        ("ImageNetA", "imagenet-adversarial"),
        ("ImageNetR", "imagenet-rendition"),
    ],
)
def test_missing_variant_folder(data_root, name, folder):
    with pytest.raises(FileNotFoundError) as err:
        build(data_root, name)
    assert str(data_root / folder) in str(err.value) and f'section "{name}"' in str(err.value)


def test_imagenetv2_missing_class_folder(data_root):
    BUILDERS["ImageNetV2"](data_root)
    shutil.rmtree(data_root / "imagenetv2" / "imagenetv2-matched-frequency-format-val" / "4")
    with pytest.raises(FileNotFoundError, match=r"class folder .*format-val[/\\]4 not found"):
        build(data_root, "ImageNetV2")
