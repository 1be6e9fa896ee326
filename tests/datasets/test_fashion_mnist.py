"""FashionMNIST and its shifted copies, the toy datasets written by the toy-world preparation."""

import json
import shutil
from collections import Counter

import pytest
from dataset_trees import build, labels

from dassl.data.datasets import DATASET_REGISTRY
from datasets.fashion_mnist import CLASSNAMES, FashionMNIST
from datasets.synthetic import BUILDERS

# The label order of the original dataset, written out here as the independent expectation.
FASHION_NAMES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                 "ankle boot"]

PREPARE = "python -m tools.toy_world.build"


def test_reads_the_prepared_split(data_root):
    BUILDERS["FashionMNIST"](data_root)
    ds = build(data_root, "FashionMNIST")
    assert ds.classnames == FASHION_NAMES == list(CLASSNAMES)
    assert Counter(labels(ds.train_x)) == {y: 6 for y in range(10)}
    assert len(ds.val) == 20 and len(ds.test) == 30
    assert FashionMNIST.template == "a photo of a {}."


def test_five_base_five_new(data_root):
    BUILDERS["FashionMNIST"](data_root)
    base = build(data_root, "FashionMNIST", subsample="base", num_shots=2)
    new = build(data_root, "FashionMNIST", subsample="new", num_shots=2)
    assert base.classnames == FASHION_NAMES[:5] and new.classnames == FASHION_NAMES[5:]
    assert (data_root / "fashion_mnist" / "split_fewshot" / "shot_2-seed_1.pkl").is_file()


def test_missing_folder_tells_how_to_prepare(data_root):
    with pytest.raises(FileNotFoundError) as err:
        build(data_root, "FashionMNIST")
    assert PREPARE in str(err.value) and str(data_root / "fashion_mnist") in str(err.value)


def test_missing_split_tells_how_to_prepare(data_root):
    BUILDERS["FashionMNIST"](data_root)
    (data_root / "fashion_mnist" / "split_zhou_FashionMNIST.json").unlink()
    with pytest.raises(
        FileNotFoundError, match="split file not found at .*split_zhou_FashionMNIST.json"
    ) as err:
        build(data_root, "FashionMNIST")
    assert PREPARE in str(err.value)


def test_missing_images_tell_how_to_prepare(data_root):
    BUILDERS["FashionMNIST"](data_root)
    shutil.rmtree(data_root / "fashion_mnist" / "images" / "test")
    with pytest.raises(FileNotFoundError, match="30 of the 110 image files") as err:
        build(data_root, "FashionMNIST")
    assert PREPARE in str(err.value)


def test_wrong_class_names_are_rejected(data_root):
    BUILDERS["FashionMNIST"](data_root)
    path = data_root / "fashion_mnist" / "split_zhou_FashionMNIST.json"
    split = json.loads(path.read_text())
    split["train"][0][2] = "T-shirt/top"
    path.write_text(json.dumps(split))
    with pytest.raises(ValueError, match=r"class 'T-shirt/top'; labels 0-9 must be named \['t-shirt'"):
        build(data_root, "FashionMNIST")



SHIFTED = [("FashionMNISTEdges", "fashion_mnist_edges"), ("FashionMNISTInverted", "fashion_mnist_inverted")]


@pytest.mark.parametrize("name, folder", SHIFTED)
def test_shifted_copy_reads_its_own_folder_and_split(data_root, name, folder):
    BUILDERS[name](data_root)
    base = build(data_root, name, subsample="base", num_shots=2)
    assert base.classnames == FASHION_NAMES[:5]
    assert all(f"/{folder}/images/" in item.impath for item in base.train_x + base.test)
    assert (data_root / folder / "split_fewshot" / "shot_2-seed_1.pkl").is_file()
    assert DATASET_REGISTRY.get(name).template == "a photo of a {}."
    assert issubclass(DATASET_REGISTRY.get(name), FashionMNIST)
    assert not (data_root / "fashion_mnist").exists()


@pytest.mark.parametrize("name, folder", SHIFTED)
def test_shifted_copy_missing_names_its_folder_and_the_command(data_root, name, folder):
    BUILDERS["FashionMNIST"](data_root)  # the original alone is not enough
    with pytest.raises(FileNotFoundError) as err:
        build(data_root, name)
    assert PREPARE in str(err.value) and str(data_root / folder) in str(err.value)
    assert name in str(err.value)
