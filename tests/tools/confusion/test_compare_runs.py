"""compare_runs: resolved rate, introduced errors, per-pair changes, heat-maps and the JSON summary."""

import json

import pytest

from tools.confusion import compare_runs


def write_wrong(folder, wrong, split="val", classnames=("a", "b", "c"), n=10):
    folder.mkdir(parents=True, exist_ok=True)
    payload = {"split": split, "classnames": list(classnames), "num_samples": n,
               "wrong": [{"index": i, "impath": f"x{i}.png", "true": t, "pred": p} for i, t, p in wrong]}
    (folder / "wrong_predictions.json").write_text(json.dumps(payload))
    return folder


def test_resolved_and_introduced(tmp_path):
    before = write_wrong(tmp_path / "stage1", [(0, 0, 1), (1, 0, 1), (2, 0, 1), (3, 1, 2)])
    after = write_wrong(tmp_path / "stage2", [(2, 0, 1), (3, 1, 0), (7, 2, 0)])
    result = compare_runs.run(str(before), str(after))
    assert result["resolved"] == 2 and result["resolved_rate"] == pytest.approx(50.0)
    assert result["introduced"] == 1 and result["still_wrong"] == 2
    assert result["changed_prediction_still_wrong"] == 1
    first = result["per_pair"][0]
    assert (first["true"], first["pred"], first["before"], first["after"]) == ("a", "b", 3, 1)
    saved = json.loads((after / "confusion_compare.json").read_text())
    assert saved["resolved_rate"] == pytest.approx(50.0)
    for name in ("confusion_before.png", "confusion_after.png"):
        assert (after / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "50.00%" in compare_runs.format_report(result)


def test_refuses_different_splits(tmp_path):
    before = write_wrong(tmp_path / "a", [(0, 0, 1)], split="val")
    after = write_wrong(tmp_path / "b", [(0, 0, 1)], split="test")
    with pytest.raises(ValueError, match="split"):
        compare_runs.run(str(before), str(after), plots=False)
    with pytest.raises(FileNotFoundError, match="wrong_predictions.json"):
        compare_runs.run(str(tmp_path / "missing"), str(after))


def test_cli_prints_report(tmp_path, capsys):
    before = write_wrong(tmp_path / "a", [(0, 0, 1), (1, 2, 0)])
    after = write_wrong(tmp_path / "b", [(1, 2, 0)])
    assert compare_runs.main(["--baseline", str(before), "--new", str(after), "--no-plots"]) == 0
    assert "resolved 1 of the baseline's wrong samples (50.00%)" in capsys.readouterr().out


def test_accepts_a_full_class_list_for_a_base_split(tmp_path):
    before = write_wrong(tmp_path / "a", [(0, 0, 1)], classnames=("a", "b", "c", "d", "e"))
    after = write_wrong(tmp_path / "b", [], classnames=("a", "b", "c"))
    assert compare_runs.run(str(before), str(after), plots=False)["resolved_rate"] == 100.0
    other = write_wrong(tmp_path / "c", [], classnames=("x", "b", "c"))
    with pytest.raises(ValueError, match="class sets"):
        compare_runs.run(str(before), str(other), plots=False)
