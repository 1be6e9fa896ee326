"""Point 7: what a killed run leaves on disk lets the next run resume, whatever TRAIN.CHECKPOINT_FREQ says.

- with the default ``CHECKPOINT_FREQ 0`` a run killed before epoch 4 of 6 resumes from epoch 3;
- a truncated latest checkpoint falls back to the previous one, with a warning;
- temporary files that a killed atomic write left behind are removed at the next start.
"""

import pytest
import tiny_run

import train


def kill_before(monkeypatch, data_root, out, epoch, epochs=6):
    monkeypatch.setattr(tiny_run.TinyLinear, "stop_before_epoch", epoch)
    with pytest.raises(KeyboardInterrupt):
        train.main(tiny_run.tiny_argv(data_root, out, epochs=epochs))
    monkeypatch.setattr(tiny_run.TinyLinear, "stop_before_epoch", None)


def test_default_config_resumes_a_killed_run_from_its_last_epoch(tmp_path, data_root, monkeypatch, capsys):
    out = tmp_path / "run"
    kill_before(monkeypatch, data_root, out, 3)
    model_dir = out / "tiny_model"
    assert (model_dir / "checkpoint").read_text().strip() == "model.pth.tar-3"
    capsys.readouterr()
    train.main(tiny_run.tiny_argv(data_root, out, epochs=6))
    assert "Previous epoch: 3" in capsys.readouterr().out
    # the finished run keeps Dassl's layout: only the last epoch (CHECKPOINT_FREQ 0)
    assert sorted(p.name for p in model_dir.glob("model.pth.tar-*")) == ["model.pth.tar-6"]


def test_truncated_latest_checkpoint_falls_back_to_the_previous_one(tmp_path, data_root, monkeypatch, capsys):
    out = tmp_path / "run"
    kill_before(monkeypatch, data_root, out, 3)
    latest = out / "tiny_model" / "model.pth.tar-3"
    latest.write_bytes(latest.read_bytes()[:200])
    capsys.readouterr()
    with pytest.warns(UserWarning, match="model.pth.tar-3.*unreadable"):
        train.main(tiny_run.tiny_argv(data_root, out, epochs=6))
    assert "Previous epoch: 2" in capsys.readouterr().out
    assert (out / "finished.json").is_file()


def test_stale_temporary_files_are_removed_at_start(tmp_path, data_root, monkeypatch):
    out = tmp_path / "run"
    kill_before(monkeypatch, data_root, out, 1, epochs=2)
    stale = [out / ".results.json.abc123.tmp", out / "tiny_model" / ".model.pth.tar-2.k9x.tmp"]
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half a file")
    train.main(tiny_run.tiny_argv(data_root, out, epochs=2))
    assert not any(p.exists() for p in stale)

