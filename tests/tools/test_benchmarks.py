"""The benchmarks run at tiny sizes and compare both variants' outputs (no timing is asserted)."""

import pytest

from tools.benchmarks import frozen_features, text_cache


@pytest.mark.parametrize("bench", [frozen_features, text_cache], ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_benchmark_runs_and_reports_both_variants(bench, capsys):
    times = bench.main(["--classes", "4", "--batches", "2", "--batch-size", "2", "--repeats", "1"])
    assert set(times) == {"per_batch", "cached"} and all(t > 0 for t in times.values())
    assert "RATIO" in capsys.readouterr().out


def test_floor_benchmark_times_step_and_evaluation_of_each_method(tmp_path, capsys):
    from tools.benchmarks import floor_ratios

    rows = floor_ratios.main(["--device", "cpu", "--methods", "CoOp", "PromptKD", "--steps", "1",
                              "--warmup", "0", "--eval-batch", "2", "--out", str(tmp_path / "bench")])
    out = capsys.readouterr().out
    assert [(r.method, r.kind) for r in rows] == [("CoOp", "step"), ("CoOp", "eval"), ("PromptKD", "step"),
                                                  ("PromptKD", "eval")]
    assert all(r.measured_ms > 0 and r.floor_ms > 0 and r.ratio > 0 for r in rows)
    assert [r.batch for r in rows if r.kind == "eval"] == [2, 2]
    lines = [line.split() for line in out.splitlines()]
    assert ["CoOp", "eval", "2"] in [cells[:3] for cells in lines] and "load average" in out


@pytest.mark.slow
def test_floor_benchmark_covers_capt_with_its_stage_1(tmp_path, capsys):
    from tools.benchmarks import floor_ratios

    rows = floor_ratios.main(["--device", "cpu", "--methods", "CAPT", "CoCoOp", "--steps", "1", "--warmup",
                              "0", "--eval-batch", "2", "--out", str(tmp_path / "bench")])
    capt_step = next(r for r in rows if r.method == "CAPT" and r.kind == "step")
    assert capt_step.note.endswith("representatives") and capt_step.floor_ms > 0
    expected = {(m, k) for m in ("CAPT", "CoCoOp") for k in ("step", "eval")}
    assert {(r.method, r.kind) for r in rows} == expected
