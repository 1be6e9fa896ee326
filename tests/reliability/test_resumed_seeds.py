"""Point 3: tools/parse_test_res.py counts a resumed seed, whose result is in ``log.txt-<time>``."""

import os

from tools import parse_test_res

BLOCK = "Finish training\n=> result\n* total: 10\n* accuracy: {}%\n"


def test_resumed_seed_is_counted_and_seed_without_result_is_named(tmp_path, capsys):
    (tmp_path / "seed1").mkdir()
    (tmp_path / "seed1" / "log.txt").write_text(BLOCK.format(80.0))
    resumed = tmp_path / "seed2"
    resumed.mkdir()
    (resumed / "log.txt").write_text("epoch [1/10]\n")  # killed; the re-run logged the rest elsewhere
    (resumed / "log.txt-2026-01-01-10-00-00").write_text(BLOCK.format(70.0))
    os.utime(resumed / "log.txt", (1_000_000, 1_000_000))
    (tmp_path / "seed3").mkdir()
    (tmp_path / "seed3" / "log.txt").write_text("epoch [1/10]\n")
    mean = parse_test_res.parse_directory(str(tmp_path), "accuracy", parse_test_res.END_OF_TRAINING, False)
    assert mean == 75.0
    err = capsys.readouterr().err
    assert "seed3" in err and "seed2" not in err
