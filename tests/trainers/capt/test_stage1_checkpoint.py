"""Which stage-1 student file CAPT freezes (released precedence, explicit epoch policy, clean protocol)."""

import pytest

from trainers.capt.resources import stage1_epoch


@pytest.fixture
def run_dir(tmp_path):
    folder = tmp_path / "VLPromptLearner"
    folder.mkdir()
    for name in ("model-best.pth.tar", "model.pth.tar-2", "model.pth.tar-3"):
        (folder / name).write_bytes(name.encode())
    return tmp_path


def test_released_precedence_takes_the_best_file_whenever_it_exists(run_dir):
    assert stage1_epoch(str(run_dir), 20) is None
    assert stage1_epoch(str(run_dir), 2) is None
    (run_dir / "VLPromptLearner" / "model-best.pth.tar").unlink()
    assert stage1_epoch(str(run_dir), 2) == 2
    assert stage1_epoch(str(run_dir), 20) == 3  # shortened schedules: the last epoch file


def test_epoch_policy_and_clean_protocol(run_dir):
    assert stage1_epoch(str(run_dir), 2, "epoch") == 2
    assert stage1_epoch(str(run_dir), -1, "epoch") == 3
    assert stage1_epoch(str(run_dir), 0, "epoch") is None
    assert stage1_epoch(str(run_dir), 20, "released", clean=True) == 3  # never the test-selected file
    with pytest.raises(ValueError, match="clean"):
        stage1_epoch(str(run_dir), 0, "epoch", clean=True)
    with pytest.raises(ValueError, match="CAPT.STAGE1_CHECKPOINT"):
        stage1_epoch(str(run_dir), 2, "latest")
