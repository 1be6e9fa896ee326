"""Fixtures for the dataset tests."""

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@pytest.fixture
def data_root(tmp_path):
    root = tmp_path / "DATA"
    root.mkdir()
    return root
