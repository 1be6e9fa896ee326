"""IDX parsing and source discovery of the raw Fashion-MNIST files."""

import gzip

import numpy as np
import pytest

from tools.toy_world import source


def _idx_bytes(array: np.ndarray, magic_dims: int) -> bytes:
    header = (0x0800 | magic_dims).to_bytes(4, "big")
    header += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.mark.parametrize("compressed", [False, True])
def test_read_idx_roundtrip(tmp_path, compressed):
    images = np.arange(2 * 28 * 28, dtype=np.int64).reshape(2, 28, 28) % 251
    data = _idx_bytes(images, 3)
    path = tmp_path / ("x-idx3-ubyte.gz" if compressed else "x-idx3-ubyte")
    path.write_bytes(gzip.compress(data) if compressed else data)
    out = source.read_idx(path, 0x0803)
    assert out.shape == (2, 28, 28) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, images)


def test_read_idx_rejects_wrong_magic_and_truncation(tmp_path):
    labels = np.array([1, 2, 3])
    path = tmp_path / "labels"
    path.write_bytes(_idx_bytes(labels, 1))
    with pytest.raises(ValueError, match="magic"):
        source.read_idx(path, 0x0803)
    path.write_bytes(_idx_bytes(labels, 1)[:-1])
    with pytest.raises(ValueError, match="expected 11"):
        source.read_idx(path, 0x0801)


def test_missing_source_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(source, "DEBIAN_DIR", tmp_path / "no-debian")
    monkeypatch.delenv(source.ENV_VAR, raising=False)
    with pytest.raises(FileNotFoundError) as info:
        source.load(tmp_path / "root", download=False)
    message = str(info.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert "torchvision" in message and "--source" in message


def test_explicit_source_dir_must_hold_all_files(tmp_path):
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="missing some"):
        source.load(tmp_path, source=tmp_path)


def test_installed_files_have_the_official_sizes(fmnist_dir):
    data = source.read_dir(fmnist_dir)
    assert data.train_images.shape == (60000, 28, 28) and data.test_images.shape == (10000, 28, 28)
    assert np.bincount(data.train_labels).tolist() == [6000] * 10
    assert np.bincount(data.test_labels).tolist() == [1000] * 10
