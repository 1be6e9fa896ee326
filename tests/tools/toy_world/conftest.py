"""Fixtures of the toy-world tests: the Fashion-MNIST source files (skip when absent) and small layouts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from toy_data import missing_fashion_mnist

from tools.toy_world import source
from tools.toy_world.prepare import PrepareConfig, prepare

# 3 pool + 2 train + 2 val images per class from the official train split, 2 test images per class.
SMALL = PrepareConfig(seed=3, pool_per_class=3, train_per_class=2, val_per_class=2, test_per_class=2)


@pytest.fixture(scope="session")
def small_config() -> PrepareConfig:
    return SMALL


@pytest.fixture(scope="session")
def fmnist_dir(tmp_path_factory):
    """The directory holding the Fashion-MNIST IDX files (``FASHION_MNIST_DIR``, else the Debian package's);
    skips the test when they are not installed (fails it under ``REQUIRE_FASHION_MNIST=1``)."""
    candidates = [Path(d) for d in (os.environ.get(source.ENV_VAR), source.DEBIAN_DIR) if d]
    for directory in candidates:
        if source.files_in(directory) is not None:
            return directory
    missing_fashion_mnist(f"Fashion-MNIST IDX files not found in {', '.join(map(str, candidates))}")


@pytest.fixture(scope="session")
def small_root(tmp_path_factory, fmnist_dir):
    """A prepared small layout shared by read-only tests."""
    root = tmp_path_factory.mktemp("toy_small")
    prepare(root, SMALL, source=fmnist_dir, workers=1, verbose=False)
    return root
