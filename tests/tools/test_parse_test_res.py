"""tools.parse_test_res: CoOp's seed-folder log contract."""

import math

import pytest

from tools import parse_test_res as ptr


def write(folder, text):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "log.txt").write_text(text)


def train_log(acc, before=12.0):
    # an accuracy printed before the end of training (a val evaluation) must be ignored
    return (f"* accuracy: {before}%\nFinish training\nDeploy the last-epoch model\n=> result\n"
            f"* total: 10\n* accuracy: {acc}%\n* error: {100 - acc}%\n")


def test_mean_and_population_std_after_finish_training(tmp_path, capsys):
    for seed, acc in ((1, 80.0), (2, 84.0), (3, 82.0)):
        write(tmp_path / f"seed{seed}", train_log(acc))
    write(tmp_path / ".hidden", train_log(0.0))
    assert ptr.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"file: {tmp_path / 'seed1' / 'log.txt'}. accuracy: 80.00%. " in out
    std = math.sqrt(((80 - 82) ** 2 + (84 - 82) ** 2) / 3)
    assert f"* accuracy: 82.00% +- {std:.2f}%" in out
    assert "===\nSummary of directory:" in out and ".hidden" not in out


def test_ci95_old_spelling_and_last_match_wins(tmp_path, capsys):
    write(tmp_path / "seed1", "Finished training\n* accuracy: 70.0%\n* accuracy: 71.0%\n")
    write(tmp_path / "seed2", train_log(73.0))
    ptr.main([str(tmp_path), "--ci95"])
    out = capsys.readouterr().out
    assert f"* accuracy: 72.00% +- {1.96 * 1.0 / math.sqrt(2):.2f}%" in out


def test_test_log_mode_and_multi_exp(tmp_path, capsys):
    for exp, accs in (("exp-1", (50.0, 60.0)), ("exp-2", (70.0, 70.0))):
        for seed, acc in enumerate(accs, 1):
            write(tmp_path / exp / f"seed{seed}", f"Loading weights\n=> result\n* accuracy: {acc}%\n")
    ptr.main([str(tmp_path), "--multi-exp", "--test-log"])
    out = capsys.readouterr().out
    assert "* accuracy: 55.00% +- 5.00%" in out and "* accuracy: 70.00% +- 0.00%" in out
    assert out.rstrip().endswith("Average performance\n* accuracy: 62.50%")
    # without --test-log the same logs hold no result after "Finish training"
    with pytest.raises(ValueError, match="Nothing found"):
        ptr.main([str(tmp_path / "exp-1")])


def test_missing_log_is_an_error(tmp_path):
    (tmp_path / "seed1").mkdir()
    with pytest.raises(FileNotFoundError, match="No log.txt"):
        ptr.main([str(tmp_path)])
