"""The demo driver: stage commands, skipping finished stages, the base / new / H table."""

import json
import subprocess

import pytest

from tools import demo


def _results(output, stage, accuracy):
    folder = output / stage
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps({"accuracy": accuracy}))


def test_stage_command_line(tmp_path):
    stage = demo.Stage("m/new", "CoOp", "configs/x.yaml", eval_only=True, model_dir="m/base",
                       opts=("DATASET.SUBSAMPLE_CLASSES", "new"))
    argv = stage.argv("/data", tmp_path, 3)
    assert argv[:5] == ["train.py", "--root", "/data", "--seed", "3"]
    assert argv[argv.index("--trainer") + 1] == "CoOp"
    assert argv[argv.index("--dataset-config-file") + 1] == f"configs/datasets/{demo.DEFAULT_DATASET}.yaml"
    assert argv[argv.index("--output-dir") + 1] == str(tmp_path / "m" / "new")
    assert argv[argv.index("--model-dir") + 1] == str(tmp_path / "m" / "base")
    assert argv[-5:] == ["--eval-only", "TEST.PROTOCOL", "clean", "DATASET.SUBSAMPLE_CLASSES", "new"]
    assert "--load-epoch" not in argv
    last = demo.Stage("m/new", "CoOp", "configs/x.yaml", eval_only=True, model_dir="m/base", load_epoch=-1)
    argv = last.argv("/data", tmp_path, 3)
    assert argv[argv.index("--load-epoch") + 1] == "-1"


def test_demo_compares_coop_with_and_without_the_class_adaptive_plugin():
    stages = {s.name: s for s in demo.STAGES}
    rows = {r.method: r for r in demo.ROWS}
    coop, ucp = rows["CoOp (ToyViT-S)"], rows["CoOp + CaPT (ToyViT-S)"]
    assert (stages[coop.base].trainer, stages[ucp.base].trainer) == ("CoOp", "UCPCoOp")
    assert stages[coop.new].model_dir == coop.base and stages[ucp.new].model_dir == ucp.base
    assert stages[coop.base].opts == stages[ucp.base].opts
    # Same recipe: the two configs differ by the plugin only.
    import trainers  # noqa: F401  (declares every trainer's keys)
    from dassl.config import extend_cfg, get_cfg_default, merge_cfg_from_file

    def recipe(stage):
        cfg = extend_cfg(get_cfg_default())
        merge_cfg_from_file(cfg, str(demo.REPO / stage.config))
        coop = cfg.TRAINER.COOP
        return cfg.OPTIM, cfg.DATALOADER.TRAIN_X, cfg.INPUT, cfg.MODEL, coop.N_CTX, coop.CTX_INIT, coop.CSC

    assert recipe(stages[coop.base]) == recipe(stages[ucp.base])


def test_every_stage_has_an_existing_config_and_rows_name_known_stages():
    names = [s.name for s in demo.STAGES]
    assert len(names) == len(set(names))
    for stage in demo.STAGES:
        assert (demo.REPO / stage.config).is_file(), stage.config
    for row in demo.ROWS:  # "-": the method has no such column (e.g. a base-only teacher)
        assert row.base in names and (row.new in names or row.new == "-")


def test_finished_stages_are_skipped(tmp_path, monkeypatch, capsys):
    from dassl.run_state import mark_finished

    stage = demo.STAGES[0]
    _results(tmp_path, stage.name, 50.0)
    mark_finished(str(stage.output_dir(tmp_path)), "eval", {})

    def no_subprocess(*args, **kwargs):
        raise AssertionError("a finished stage was run again")

    monkeypatch.setattr(subprocess, "run", no_subprocess)
    demo.DemoRun(output=tmp_path).run_stage(stage)
    assert "done earlier" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="run again"):
        demo.DemoRun(output=tmp_path, force=True).run_stage(stage)


def test_failed_stage_names_its_log(tmp_path, monkeypatch):
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 3))
    with pytest.raises(RuntimeError, match="exit code 3.*log.txt"):
        demo.DemoRun(output=tmp_path).run_stage(demo.STAGES[0])


def test_table_has_harmonic_mean_and_marks_missing_results(tmp_path):
    _results(tmp_path, "a/base", 80.0)
    _results(tmp_path, "a/new", 60.0)
    _results(tmp_path, "b/base", 70.0)
    rows = [demo.Row("A", "a/base", "a/new"), demo.Row("B", "b/base", "b/new", "unfinished")]
    text, records = demo.table(tmp_path, rows)
    assert records[0]["H"] == pytest.approx(2 * 80 * 60 / 140)
    assert records[1]["new"] is None and records[1]["H"] is None
    lines = text.splitlines()
    assert "68.57" in lines[2] and lines[3].split()[1:4] == ["70.00", "-", "-"]
    assert demo.harmonic_mean(0.0, 0.0) == 0.0


def test_unknown_stage_selection_is_an_error():
    with pytest.raises(ValueError, match="unknown stage"):
        demo.DemoRun(only=("nope",)).selected()


def test_dataset_choice_reaches_the_commands_and_the_output_folder(tmp_path, monkeypatch):
    capt = next(s for s in demo.STAGES if s.name == "capt/base")
    argv = capt.argv("/data", tmp_path, 1, "fashion_mnist_edges")
    assert argv[argv.index("--dataset-config-file") + 1] == "configs/datasets/fashion_mnist_edges.yaml"
    assert argv[argv.index("CAPT.SEM.DESC_FILE") + 1] == "datasets/descriptions/fashion_mnist_edges.json"
    for dataset in demo.TOY_DATASETS:
        assert (demo.REPO / "configs" / "datasets" / f"{dataset}.yaml").is_file()
        assert (demo.REPO / "datasets" / "descriptions" / f"{dataset}.json").is_file()

    import tools.toy_world.build as toy_build

    seen = []
    monkeypatch.setattr(toy_build, "build", lambda root: None)
    monkeypatch.setattr(demo.DemoRun, "run_stage", lambda self, stage: seen.append(self.output))
    demo.DemoRun(output=tmp_path, dataset="fashion_mnist_edges", only=("zsclip/base",)).run()
    assert seen == [tmp_path.absolute() / "fashion_mnist_edges"]
    summary = json.loads((tmp_path / "fashion_mnist_edges" / "summary.json").read_text())
    assert summary["dataset"] == "fashion_mnist_edges"
    with pytest.raises(ValueError, match="not a toy dataset"):
        demo.DemoRun(output=tmp_path, dataset="oxford_pets").run()
