"""The demo driver: stage commands, skipping finished stages, the base / new / H table."""

import io
import json
import os
import stat

import pytest

from tools import demo, demo_report


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

    def no_run(*args, **kwargs):
        raise AssertionError("a finished stage was run again")

    demo.DemoRun(output=tmp_path, launch=no_run).run_stage(stage)
    out = capsys.readouterr().out
    assert "done earlier" in out and "base 50.00" in out
    with pytest.raises(AssertionError, match="run again"):
        demo.DemoRun(output=tmp_path, force=True, launch=no_run).run_stage(stage)


def test_failed_stage_names_its_log(tmp_path, monkeypatch):
    with pytest.raises(RuntimeError, match="exit code 3.*log.txt"):
        demo.DemoRun(output=tmp_path, verbose=True, launch=lambda *a: 3).run_stage(demo.STAGES[0])


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
    monkeypatch.setattr(demo.DemoRun, "run_stage", lambda self, stage, *where: seen.append(self.output))
    demo.DemoRun(output=tmp_path, dataset="fashion_mnist_edges", only=("zsclip/base",)).run()
    assert seen == [tmp_path.absolute() / "fashion_mnist_edges"]
    summary = json.loads((tmp_path / "fashion_mnist_edges" / "summary.json").read_text())
    assert summary["dataset"] == "fashion_mnist_edges"
    with pytest.raises(ValueError, match="not a toy dataset"):
        demo.DemoRun(output=tmp_path, dataset="oxford_pets").run()


CONFIG_DUMP = "** Config **"  # what train.py prints first, with the whole merged config


class FakeTrain:
    """Stands in for ``train.py``: prints a config dump and a few lines, writes results.json and
    finished.json into the stage's run folder; a run folder named in ``fail`` exits 2 after 50 lines."""

    def __init__(self, fail=()):
        self.fail, self.argvs = set(fail), []

    def __call__(self, argv, console, cwd, tick):
        from dassl.run_state import mark_finished

        self.argvs.append(argv)
        folder = demo.Path(argv[argv.index("--output-dir") + 1])
        folder.mkdir(parents=True, exist_ok=True)
        failing = folder.name in self.fail
        lines = [f"{CONFIG_DUMP}", *(f"line {i}" for i in range(50 if failing else 3))]
        if failing:
            lines.append("Traceback (most recent call last): boom")
        text = "\n".join(lines) + "\n"
        (folder / "log.txt").write_text(text)
        if console is None:
            print(text, end="")
        else:
            with open(console, "a") as f:
                f.write(text)
        tick()
        if failing:
            return 2
        (folder / "results.json").write_text(json.dumps({"accuracy": 40.0 + len(self.argvs)}))
        mark_finished(str(folder), "eval", {})
        return 0


def _demo(tmp_path, monkeypatch, **kwargs):
    import tools.toy_world.build as toy_build

    monkeypatch.setattr(toy_build, "build", lambda root: None)
    monkeypatch.chdir(tmp_path)
    return demo.DemoRun(root=str(tmp_path / "DATA"), output=tmp_path / "out", **kwargs)


def test_terminal_shows_one_line_per_stage_and_the_table(tmp_path, monkeypatch, capsys):
    fake = FakeTrain()
    records = _demo(tmp_path, monkeypatch, launch=fake).run()
    out = capsys.readouterr().out
    total = len(demo.STAGES)
    stage_lines = [line for line in out.splitlines() if line.startswith("[")]
    assert len(stage_lines) == total == len(fake.argvs)
    for index, (line, stage) in enumerate(zip(stage_lines, demo.STAGES), 1):
        assert line.startswith(f"[{index}/{total}] {stage.title}  ")
        assert line.endswith(f"-> {stage.output_dir(demo.Path('out') / demo.DEFAULT_DATASET) / 'log.txt'}")
    assert "base 41.00" in stage_lines[0] and "new 42.00" in stage_lines[1]
    assert CONFIG_DUMP not in out and "line 0" not in out
    assert demo.format_table(records) in out
    # a second run reuses every stage and says so
    _demo(tmp_path, monkeypatch, launch=lambda *a: pytest.fail("a finished stage ran again")).run()
    again = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[")]
    assert len(again) == total and all("done earlier" in line for line in again)


def test_verbose_shows_the_whole_stage_output(tmp_path, monkeypatch, capsys):
    _demo(tmp_path, monkeypatch, launch=FakeTrain(), verbose=True, only=("zsclip/base", "zsclip/new")).run()
    out = capsys.readouterr().out
    assert out.count(CONFIG_DUMP) == 2 and "line 2" in out
    assert "== [zsclip/base] python train.py" in out


def test_failing_stage_prints_the_tail_of_its_log_and_its_path(tmp_path, monkeypatch, capsys):
    run = _demo(tmp_path, monkeypatch, launch=FakeTrain(fail=["new"]), only=("zsclip/base", "zsclip/new"))
    with pytest.raises(demo.StageFailed, match="exit code 2"):
        run.run()
    out = capsys.readouterr().out
    folder = demo.Path("out") / demo.DEFAULT_DATASET / "zsclip" / "new"
    assert "[2/2] Zero-shot CLIP, new classes (zsclip/new)  FAILED after" in out
    assert "Traceback (most recent call last): boom" in out and "line 49" in out
    assert "line 10\n" not in out  # the tail only
    assert str(folder / demo.CONSOLE_FILE) in out and f"full log: {folder / 'log.txt'}" in out
    assert not (run.output / "summary.json").exists()


def test_main_stops_with_the_failure_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.setattr(demo.DemoRun, "run", lambda self: (_ for _ in ()).throw(demo.StageFailed("stage x")))
    with pytest.raises(SystemExit, match="demo stopped: stage x"):
        demo.main(["--only", "zsclip/base"])


def test_report_has_table_protocol_commands_and_an_existing_chart(tmp_path, monkeypatch, capsys):
    import re
    import shlex

    fake = FakeTrain()
    run = _demo(tmp_path, monkeypatch, launch=fake, protocol="published")
    records = run.run()
    text = (run.output / "report.md").read_text()
    assert "`TEST.PROTOCOL published`" in text
    table = demo_report.markdown_table(records)
    assert table in text and len(table.splitlines()) == len(demo.ROWS) + 2
    commands = [line for line in text.splitlines() if line.startswith("python train.py")]
    stages_in_rows = [name for row in demo.ROWS for name in (row.base, row.new) if name != "-"]
    assert commands == [shlex.join(["python", *argv]) for argv in fake.argvs]  # as run, in order
    assert len(commands) == len(stages_in_rows)
    assert all(shlex.split(c)[shlex.split(c).index("TEST.PROTOCOL") + 1] == "published" for c in commands)
    links = re.findall(r"!\[[^]]*\]\(([^)]+)\)", text)
    assert links and all((run.output / link).is_file() for link in links)
    assert (run.output / links[0]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_links_the_capt_heatmaps_that_exist(tmp_path):
    records = [{"method": "A", "base": 80.0, "new": None, "H": None, "note": "base only"}]
    (tmp_path / "capt").mkdir()
    (tmp_path / "capt" / "confusion_before.png").write_bytes(b"png")
    figures = [("before", tmp_path / "capt" / "confusion_before.png"), ("bank", tmp_path / "missing.png")]
    demo_report.write_report(tmp_path, "Demo", "clean", records, [[("a/base", ["train.py"])]], figures)
    text = (tmp_path / "report.md").read_text()
    assert "![before](capt/confusion_before.png)" in text and "missing.png" not in text
    assert "| A | 80.00 | - | - | base only |" in text and "python train.py" in text


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_demo_outputs_follow_the_umask(tmp_path, monkeypatch, umask):
    run = _demo(tmp_path, monkeypatch, launch=FakeTrain(), only=("zsclip/base",))
    previous = os.umask(umask)
    try:
        run.run()
    finally:
        os.umask(previous)
    for name in ("summary.json", "report.md", demo_report.CHART_FILE):
        assert stat.S_IMODE((run.output / name).stat().st_mode) == 0o666 & ~umask, name


def test_progress_line_is_one_redrawn_line_on_a_terminal_only(tmp_path):
    from tools.demo_console import ProgressLine, read_tail

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    console = tmp_path / "console.txt"
    console.write_text("epoch [1/4] batch [1/9]\nepoch [3/4] batch [2/9] loss 0.5\n")
    terminal, piped = Terminal(), io.StringIO()
    for stream in (terminal, piped):
        line = ProgressLine("[2/5] CoOp", console, stream)
        line()
        line()
        line.clear()
    assert piped.getvalue() == ""
    drawn = terminal.getvalue()
    assert "\n" not in drawn and drawn.count("\r[2/5] CoOp") == 2 and "epoch 3/4" in drawn
    assert drawn.endswith("\r") and drawn.rsplit("\r", 2)[-2].strip() == ""  # cleared
    console.write_text("x 10%\rx 50%\rx 100%\nlast\n")
    assert read_tail(console) == ["x 100%", "last"]
