"""``tools.toy_world.inverted``: the inverted downstream dataset derived from a prepared Fashion-MNIST."""

import json
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from tools.toy_world import inverted
from tools.toy_world.prepare import MARKER_FILE, SPLIT_FILE, prepare


@pytest.fixture
def prepared(tmp_path, fmnist_dir, small_config):
    prepare(tmp_path, small_config, source=fmnist_dir, workers=1, verbose=False)
    return tmp_path


def _pixels(path):
    with Image.open(path) as image:
        assert image.mode == "L" and image.size == (28, 28)
        return np.asarray(image).astype(np.int64)


def test_invert_is_255_minus_and_rejects_other_dtypes():
    x = np.array([[0, 1, 128, 255]], dtype=np.uint8)
    np.testing.assert_array_equal(inverted.invert(x), [[255, 254, 127, 0]])
    with pytest.raises(TypeError, match="uint8"):
        inverted.invert(x.astype(np.float32))


def test_same_split_and_inverted_pixels(prepared):
    target = inverted.prepare_inverted(prepared, workers=1, verbose=False)
    assert target == prepared / "fashion_mnist_inverted"
    source_split = json.loads((prepared / "fashion_mnist" / SPLIT_FILE).read_text())
    split = json.loads((target / "split_zhou_FashionMNISTInverted.json").read_text())
    assert split == source_split
    written = {p.relative_to(target / "images").as_posix() for p in (target / "images").rglob("*.png")}
    assert written == {entry[0] for part in split.values() for entry in part}  # no pretraining pool
    for part in ("train", "val", "test"):
        for path, _, _ in split[part]:
            original = _pixels(prepared / "fashion_mnist" / "images" / path)
            assert (original > 0).any() and (original < 255).any()
            np.testing.assert_array_equal(_pixels(target / "images" / path), 255 - original)
    marker = json.loads((target / MARKER_FILE).read_text())
    assert marker["counts"] == {"train": 20, "val": 20, "test": 20}
    assert not list(prepared.glob(".fashion_mnist_inverted.*"))  # no temporary folder left behind


def test_second_call_keeps_the_folder_and_a_new_preparation_rederives_it(prepared, fmnist_dir, small_config):
    target = inverted.prepare_inverted(prepared, workers=1, verbose=False)
    stamp = target / "images" / "stamp"
    stamp.write_text("kept")
    assert inverted.is_current(prepared)
    inverted.prepare_inverted(prepared, workers=1, verbose=False)
    assert stamp.is_file()

    prepare(prepared, replace(small_config, seed=4), force=True, source=fmnist_dir, workers=1, verbose=False)
    assert not inverted.is_current(prepared)
    inverted.prepare_inverted(prepared, workers=1, verbose=False)
    assert not stamp.exists() and inverted.is_current(prepared)
    source_split = json.loads((prepared / "fashion_mnist" / SPLIT_FILE).read_text())
    split = json.loads((target / "split_zhou_FashionMNISTInverted.json").read_text())
    assert split == source_split


def test_force_rederives(prepared):
    target = inverted.prepare_inverted(prepared, workers=1, verbose=False)
    (target / "images" / "stamp").write_text("x")
    inverted.prepare_inverted(prepared, force=True, workers=1, verbose=False)
    assert not (target / "images" / "stamp").exists()


def test_missing_source_names_the_command(tmp_path):
    expected = r"fashion_mnist/prepared.json not found.*tools.toy_world.build"
    with pytest.raises(FileNotFoundError, match=expected):
        inverted.prepare_inverted(tmp_path, verbose=False)
    assert not (tmp_path / "fashion_mnist_inverted").exists()


def test_foreign_folder_is_not_replaced(prepared):
    foreign = prepared / "fashion_mnist_inverted"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="holds files but no prepared.json"):
        inverted.prepare_inverted(prepared, workers=1, verbose=False)
    assert (foreign / "notes.txt").read_text() == "mine"
