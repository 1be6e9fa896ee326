"""parallel_runner.py: CaPT's `--cfg <experiment>` command line, run through tools.sweep."""

import json
from pathlib import Path

import pytest

import parallel_runner
from tools import sweep

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", list(parallel_runner.EXPERIMENTS))
def test_every_experiment_plans_runs_of_existing_configs(name):
    import trainers  # noqa: F401  (registers the trainers)
    from dassl.engine import TRAINER_REGISTRY

    spec = sweep.validate_spec(parallel_runner.experiment_spec(name))
    chains = sweep.plan(spec, cwd=str(REPO))
    assert len(chains) == 11 * 3
    assert [Path(c[0].argv[c[0].argv.index("--dataset-config-file") + 1]).stem for c in chains[::3]] == list(
        parallel_runner.DATASETS)
    for run in chains[0]:
        argv = list(run.argv)
        assert (REPO / argv[argv.index("--config-file") + 1]).is_file()
        assert argv[argv.index("--trainer") + 1] in TRAINER_REGISTRY


def test_cli_dry_run_trains_base_then_tests_new(tmp_path, capsys):
    out = tmp_path / "out"
    code = parallel_runner.main(["--cfg", "coop_capt", "--output", str(out), "--datasets", "dtd",
                                 "--seeds", "2", "--dry-run"])
    assert code == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "train.py" in line]
    train_dir = out / "train_base/UCPCoOp/dtd/shots16/vit_b16_ep10_ctx_batch4/seed2"
    assert len(lines) == 2
    assert f"--output-dir {train_dir} " in lines[0] and "DATASET.SUBSAMPLE_CLASSES base" in lines[0]
    assert "--trainer UCPCoOp" in lines[0] and "--eval-only" not in lines[0]
    assert f"--model-dir {train_dir} --load-epoch -1" in lines[1]
    assert "DATASET.SUBSAMPLE_CLASSES new" in lines[1]
    saved = json.loads((out / "parallel_runner" / "coop_capt.json").read_text())
    assert saved["steps"][0]["trainer"] == "UCPCoOp"


def test_dapt_experiments_write_prototypes_first_and_unknown_names_are_refused():
    for name in ("dapt", "dapt_capt"):
        first = parallel_runner.experiment_spec(name)["steps"][0]
        assert first["opts"]["TRAINER.DAPT.PROTOTYPE_GEN"] is True
    assert [s["name"] for s in parallel_runner.experiment_spec("coop")["steps"]] == ["base", "new"]
    with pytest.raises(ValueError, match="known experiments"):
        parallel_runner.experiment_spec("cocoop_capt")
    with pytest.raises(SystemExit):
        parallel_runner.main(["--cfg", "cocoop_capt"])
