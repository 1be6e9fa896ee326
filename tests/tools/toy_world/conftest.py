"""Fixtures of the toy-world tests: the Fashion-MNIST source files (skip when absent) and small layouts."""

from __future__ import annotations

import pytest

from tools.toy_world import source
from tools.toy_world.prepare import PrepareConfig, prepare

# 3 pool + 2 train + 2 val images per class from the official train split, 2 test images per class.
SMALL = PrepareConfig(seed=3, pool_per_class=3, train_per_class=2, val_per_class=2, test_per_class=2)


@pytest.fixture(scope="session")
def small_config() -> PrepareConfig:
    return SMALL


@pytest.fixture(scope="session")
def fmnist_dir(tmp_path_factory):
    """The directory holding the Fashion-MNIST IDX files; skips the test when they are not installed."""
    for directory in (source.DEBIAN_DIR,):
        if source.files_in(directory) is not None:
            return directory
    pytest.skip(
        f"Fashion-MNIST IDX files not found in {source.DEBIAN_DIR}; "
        "install the Debian package dataset-fashion-mnist to run the toy-world data tests"
    )


@pytest.fixture(scope="session")
def small_root(tmp_path_factory, fmnist_dir):
    """A prepared small layout shared by read-only tests."""
    root = tmp_path_factory.mktemp("toy_small")
    prepare(root, SMALL, source=fmnist_dir, workers=1, verbose=False)
    return root
