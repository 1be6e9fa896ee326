"""``tools.toy_world.shifted``: the shifted downstream datasets derived from a prepared Fashion-MNIST."""

import json
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image, ImageFilter

from tools.toy_world import shifted
from tools.toy_world.prepare import MARKER_FILE, SPLIT_FILE, prepare


@pytest.fixture
def prepared(tmp_path, fmnist_dir, small_config):
    prepare(tmp_path, small_config, source=fmnist_dir, workers=1, verbose=False)
    return tmp_path


def _pixels(path):
    with Image.open(path) as image:
        assert image.mode == "L" and image.size == (28, 28)
        return np.asarray(image).astype(np.int64)


def _edge_map(pixels):
    """Independent reference inside the border ring: the 3x3 kernel (8 at the centre, -1 around), clipped."""
    padded = np.pad(pixels, 1, mode="edge")
    window = sum(padded[1 + dy : 29 + dy, 1 + dx : 29 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1))
    return np.clip(9 * pixels - window, 0, 255)


REFERENCE = {"inverted": lambda p: 255 - p, "edges": _edge_map}


def test_invert_is_255_minus_and_rejects_other_inputs():
    x = np.array([[[0, 1, 128, 255]]], dtype=np.uint8)
    np.testing.assert_array_equal(shifted.invert(x), [[[255, 254, 127, 0]]])
    with pytest.raises(TypeError, match="uint8"):
        shifted.invert(x.astype(np.float32))
    with pytest.raises(TypeError, match=r"shape \[N, H, W\]"):
        shifted.edges(x[0])


def test_edges_of_a_flat_image_vanish_and_a_dot_lights_up():
    x = np.full((1, 7, 7), 90, dtype=np.uint8)
    inner = (0, slice(1, -1), slice(1, -1))
    assert not shifted.edges(x)[inner].any()
    np.testing.assert_array_equal(shifted.edges(x)[0, 0], x[0, 0])  # Pillow copies the border ring
    x[0, 3, 3] = 100
    out = shifted.edges(x)
    assert out[0, 3, 3] == 80 and out[0, 2, 2] == 0  # 8*10 at the dot; -10 around it clips to 0


@pytest.mark.parametrize("name", sorted(shifted.SHIFTS))
def test_same_split_and_transformed_pixels(prepared, name):
    shift = shifted.SHIFTS[name]
    target = shifted.prepare_shifted(prepared, name, workers=1, verbose=False)
    assert target == prepared / shift.folder
    source_split = json.loads((prepared / "fashion_mnist" / SPLIT_FILE).read_text())
    split = json.loads((target / f"split_zhou_{shift.dataset}.json").read_text())
    assert split == source_split
    written = {p.relative_to(target / "images").as_posix() for p in (target / "images").rglob("*.png")}
    assert written == {entry[0] for part in split.values() for entry in part}  # no pretraining pool
    for part in ("train", "val", "test"):
        for path, _, _ in split[part]:
            original = _pixels(prepared / "fashion_mnist" / "images" / path)
            assert (original > 0).any() and (original < 255).any()
            expected = REFERENCE[name](original)
            got = _pixels(target / "images" / path)
            inner = (slice(1, -1), slice(1, -1))  # the border ring is Pillow's own convention
            np.testing.assert_array_equal(got[inner], expected[inner])
    marker = json.loads((target / MARKER_FILE).read_text())
    assert marker["shift"] == name and marker["counts"] == {"train": 20, "val": 20, "test": 20}
    assert not list(prepared.glob(f".{shift.folder}.*"))  # no temporary folder left behind


def test_edge_maps_match_pillow_on_the_whole_image(prepared):
    target = shifted.prepare_shifted(prepared, "edges", workers=1, verbose=False)
    path = json.loads((target / "split_zhou_FashionMNISTEdges.json").read_text())["test"][0][0]
    with Image.open(prepared / "fashion_mnist" / "images" / path) as image:
        expected = np.asarray(image.filter(ImageFilter.FIND_EDGES))
    np.testing.assert_array_equal(_pixels(target / "images" / path), expected)


def test_second_call_keeps_the_folder_and_a_new_preparation_rederives_it(prepared, fmnist_dir, small_config):
    target = shifted.prepare_shifted(prepared, "inverted", workers=1, verbose=False)
    stamp = target / "images" / "stamp"
    stamp.write_text("kept")
    assert shifted.is_current(prepared, "inverted") and not shifted.is_current(prepared, "edges")
    shifted.prepare_shifted(prepared, "inverted", workers=1, verbose=False)
    assert stamp.is_file()

    prepare(prepared, replace(small_config, seed=4), force=True, source=fmnist_dir, workers=1, verbose=False)
    assert not shifted.is_current(prepared, "inverted")
    shifted.prepare_shifted(prepared, "inverted", workers=1, verbose=False)
    assert not stamp.exists() and shifted.is_current(prepared, "inverted")
    source_split = json.loads((prepared / "fashion_mnist" / SPLIT_FILE).read_text())
    assert json.loads((target / "split_zhou_FashionMNISTInverted.json").read_text()) == source_split


def test_force_rederives(prepared):
    target = shifted.prepare_shifted(prepared, "edges", workers=1, verbose=False)
    (target / "images" / "stamp").write_text("x")
    shifted.prepare_shifted(prepared, "edges", force=True, workers=1, verbose=False)
    assert not (target / "images" / "stamp").exists()


def test_missing_source_and_unknown_shift_are_explained(tmp_path):
    expected = r"fashion_mnist/prepared.json not found.*FashionMNISTEdges.*tools.toy_world.build"
    with pytest.raises(FileNotFoundError, match=expected):
        shifted.prepare_shifted(tmp_path, "edges", verbose=False)
    assert not (tmp_path / "fashion_mnist_edges").exists()
    with pytest.raises(KeyError, match=r"unknown shift 'blur'; expected one of \['edges', 'inverted'\]"):
        shifted.prepare_shifted(tmp_path, "blur", verbose=False)


def test_foreign_folder_is_not_replaced(prepared):
    foreign = prepared / "fashion_mnist_edges"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="holds files but no prepared.json"):
        shifted.prepare_shifted(prepared, "edges", workers=1, verbose=False)
    assert (foreign / "notes.txt").read_text() == "mine"


def test_cli_writes_only_the_chosen_shift(prepared):
    shifted.main(["--root", str(prepared), "--only", "edges", "--workers", "1"])
    assert shifted.is_current(prepared, "edges") and not (prepared / "fashion_mnist_inverted").exists()
