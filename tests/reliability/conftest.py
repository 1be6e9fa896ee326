"""Fault-injection tests: each one breaks a run the way the real world does (a hostile file, a kill, a
retrained model, a second process) and checks what the project reports afterwards."""

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
for path in (HERE.parents[1], HERE.parents[0] / "dassl", HERE.parents[0] / "trainers"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    import tiny_run

    return tiny_run.make_image_tree(str(tmp_path_factory.mktemp("tiny_data")))
