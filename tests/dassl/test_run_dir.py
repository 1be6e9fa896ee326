"""The run folder's file names and the one rule for choosing a checkpoint in it."""

import pytest

from dassl.run_dir import (
    BEST_FILE,
    choose_checkpoint,
    epoch_file,
    epoch_files_newest_first,
    epoch_of,
    find_last_epoch,
    is_best_file,
)


@pytest.fixture
def model_dir(tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    names = ("model.pth.tar-2", "model.pth.tar-10", "model-best.pth.tar", "checkpoint", "model.pth.tar-x")
    for name in names:
        (d / name).write_text("")
    return str(d)


def test_names_keep_the_dassl_layout():
    assert (BEST_FILE, epoch_file(7)) == ("model-best.pth.tar", "model.pth.tar-7")
    assert epoch_of("/a/model.pth.tar-12") == 12
    assert epoch_of("model-best.pth.tar") is None and epoch_of("model.pth.tar-x") is None
    assert is_best_file("/a/model-best.pth.tar") and not is_best_file("model.pth.tar-3")
    assert not is_best_file(None)


def test_epoch_files_sort_numerically_not_as_text(model_dir, tmp_path):
    assert [epoch_of(p) for p in epoch_files_newest_first(model_dir)] == [10, 2]
    assert find_last_epoch(model_dir) == 10
    assert find_last_epoch(str(tmp_path / "none")) is None
    assert epoch_files_newest_first(str(tmp_path / "none")) == []


def test_best_last_and_numbered_epochs(model_dir):
    assert choose_checkpoint(model_dir).endswith("/model-best.pth.tar")
    assert choose_checkpoint(model_dir, -1).endswith("/model.pth.tar-10")
    assert choose_checkpoint(model_dir, 2).endswith("/model.pth.tar-2")
    with pytest.raises(FileNotFoundError, match="model.pth.tar-3"):
        choose_checkpoint(model_dir, 3)


def test_clean_protocol_never_takes_the_best_file_by_default(model_dir):
    assert choose_checkpoint(model_dir, clean=True).endswith("/model.pth.tar-10")
    assert choose_checkpoint(model_dir, 2, clean=True).endswith("/model.pth.tar-2")


def test_fallback_to_the_last_epoch_is_opt_in_and_announced(model_dir, tmp_path, capsys):
    (tmp_path / "m" / "model-best.pth.tar").unlink()
    with pytest.raises(FileNotFoundError, match="model-best.pth.tar"):
        choose_checkpoint(model_dir)
    assert choose_checkpoint(model_dir, fallback_to_last=True).endswith("/model.pth.tar-10")
    assert choose_checkpoint(model_dir, 20, fallback_to_last=True).endswith("/model.pth.tar-10")
    out = capsys.readouterr().out
    assert "model-best.pth.tar not found; using the last-epoch file" in out and "model.pth.tar-20" in out
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=r"model.pth.tar-<N>"):
        choose_checkpoint(str(empty), -1)
    with pytest.raises(FileNotFoundError, match="model-best.pth.tar"):
        choose_checkpoint(str(empty), fallback_to_last=True)
