"""The benchmarks run at tiny sizes and compare both variants' outputs (no timing is asserted)."""

import pytest

from tools.benchmarks import frozen_features, text_cache


@pytest.mark.parametrize("bench", [frozen_features, text_cache], ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_benchmark_runs_and_reports_both_variants(bench, capsys):
    times = bench.main(["--classes", "4", "--batches", "2", "--batch-size", "2", "--repeats", "1"])
    assert set(times) == {"per_batch", "cached"} and all(t > 0 for t in times.values())
    assert "RATIO" in capsys.readouterr().out
