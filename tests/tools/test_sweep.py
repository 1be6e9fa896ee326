"""The sweep runner, driven with a fake train.py that writes results.json (no training)."""

import json
import os
import sys
from pathlib import Path

import pytest

from tools import sweep

REPO = Path(__file__).resolve().parents[2]

FAKE_TRAIN = r"""
import json, os, sys, time
argv = sys.argv[1:]
out = argv[argv.index("--output-dir") + 1]
with open(os.environ["FAKE_LOG"], "a") as f:
    f.write(json.dumps({"argv": argv, "gpu": os.environ.get("CUDA_VISIBLE_DEVICES")}) + "\n")
saw_peer = None
peers = os.environ.get("FAKE_PEERS")
if peers:  # wait (bounded) until another run has started too
    open(os.path.join(peers, out.replace("/", "_")), "w").close()
    deadline = time.time() + 30
    while len(os.listdir(peers)) < 2 and time.time() < deadline:
        time.sleep(0.02)
    saw_peer = len(os.listdir(peers)) >= 2
checkpoint = os.path.join(out, "checkpoint")
resumed = os.path.exists(checkpoint)
if out == os.environ.get("FAKE_INTERRUPT") and not resumed:
    open(checkpoint, "w").write("epoch 1")
    sys.exit(3)
with open(os.path.join(out, "results.json"), "w") as f:
    json.dump({"split": "test", "accuracy": 50.0, "resumed": resumed, "saw_peer": saw_peer}, f)
with open(os.path.join(out, "finished.json"), "w") as f:  # what train.py writes when it succeeded
    json.dump({"schema": 1, "kind": "train", "weights": []}, f)
# stage 2 gets samples 0 and 1 right that stage 1 got wrong, and keeps 2 and 3 wrong
wrong = [(2, 0, 1), (3, 1, 0)] if "Stack" in argv[argv.index("--trainer") + 1] else [
    (0, 0, 1), (1, 0, 1), (2, 0, 1), (3, 1, 2)]
with open(os.path.join(out, "wrong_predictions.json"), "w") as f:
    json.dump({"split": "test", "classnames": ["a", "b", "c"], "num_samples": 10,
               "wrong": [{"index": i, "impath": None, "true": t, "pred": p} for i, t, p in wrong]}, f)
"""


@pytest.fixture
def world(tmp_path, monkeypatch):
    return make_world(tmp_path, monkeypatch)


def make_world(tmp_path, monkeypatch):
    """A working directory with two dataset configs, the fake train.py and its call log."""
    (tmp_path / "configs" / "datasets").mkdir(parents=True)
    for name in ("alpha", "beta"):
        (tmp_path / "configs" / "datasets" / f"{name}.yaml").write_text(f"DATASET:\n  NAME: {name}\n")
    fake = tmp_path / "fake_train.py"
    fake.write_text(FAKE_TRAIN)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "calls.jsonl"))
    monkeypatch.delenv("FAKE_PEERS", raising=False)
    monkeypatch.delenv("FAKE_INTERRUPT", raising=False)
    return tmp_path


def calls(world):
    path = world / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def out_of(call):
    return call["argv"][call["argv"].index("--output-dir") + 1]


def two_stage_spec(world, datasets=("alpha", "beta"), seeds=(1, 2)):
    spec = {
        "root": "DATA",
        "datasets": list(datasets),
        "seeds": list(seeds),
        "command": [sys.executable, str(world / "fake_train.py")],
        "steps": [
            {"name": "stage1", "trainer": "PromptKD", "config": "cfg1.yaml",
             "output_dir": "out/s1/{dataset}/seed{seed}", "opts": {"DATASET.NUM_SHOTS": 0}},
            {"name": "stage2", "trainer": "StackSPLE_PromptKD", "output_dir": "out/s2/{dataset}/seed{seed}",
             "args": ["--model-dir", "{stage1}"], "opts": ["SPLE.BACK_CKPT_PATH", "{stage1}"]},
        ],
    }
    path = world / "sweep.json"
    path.write_text(json.dumps(spec))
    return str(path)


BOTH_STAGES = {"baseline": "{stage1}", "new": "{stage2}"}


def write_results(directory, split):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "results.json").write_text(json.dumps({"split": split, "accuracy": 1.0}))


def finish_run(directory):
    """A run folder as train.py leaves it after success: results.json and finished.json."""
    from dassl.run_state import mark_finished

    write_results(directory, "test")
    mark_finished(str(directory), "train", {})


def test_is_finished_needs_the_finished_marker_and_no_failure(tmp_path):
    from dassl.run_state import mark_finished

    run = tmp_path / "run"
    assert not sweep.is_finished(str(run))
    write_results(run, "test")  # a results.json alone is written by every evaluation, even mid-training
    (run / "log.txt").write_text("Finish training\n=> result\n* accuracy: 90.0%\n")
    assert not sweep.is_finished(str(run))
    mark_finished(str(run), "train", {"OPTIM.LR": 0.1})
    assert sweep.is_finished(str(run))
    (run / "exceptions.txt").write_text("Traceback ...")
    assert not sweep.is_finished(str(run))


def test_dry_run_prints_filled_commands_and_marks_finished(world):
    spec = two_stage_spec(world)
    finish_run(world / "out" / "s1" / "beta" / "seed2")
    printed = []
    assert sweep.main([spec, "--dry-run"], echo=printed.append) == 0
    assert calls(world) == []
    assert len(printed) == 8
    assert printed.count("# finished, skip: out/s1/beta/seed2") == 1
    commands = [line for line in printed if not line.startswith("#")]
    stage2 = [c for c in commands if "out/s2/alpha/seed1" in c]
    assert len(stage2) == 1
    assert "--model-dir out/s1/alpha/seed1" in stage2[0]
    assert stage2[0].endswith("SPLE.BACK_CKPT_PATH out/s1/alpha/seed1")
    assert "--dataset-config-file configs/datasets/alpha.yaml" in stage2[0]
    stage1 = [c for c in commands if "out/s1/alpha/seed2" in c][0]
    assert "--seed 2" in stage1 and "--root DATA" in stage1 and "--config-file cfg1.yaml" in stage1
    assert stage1.endswith("DATASET.NUM_SHOTS 0")


def test_local_pool_skips_finished_and_resumes_interrupted(world, monkeypatch):
    spec = two_stage_spec(world)
    finish_run(world / "out" / "s1" / "alpha" / "seed1")
    monkeypatch.setenv("FAKE_INTERRUPT", "out/s1/beta/seed1")

    printed = []
    assert sweep.main([spec, "--jobs", "2"], echo=printed.append) == 1
    first = calls(world)
    ran = [out_of(c) for c in first]
    assert "out/s1/alpha/seed1" not in ran  # finished beforehand
    assert "out/s2/beta/seed1" not in ran  # blocked by its failed stage 1
    assert len(ran) == 6 and ran.count("out/s1/beta/seed1") == 1
    for dataset, seed in (("alpha", 2), ("beta", 2)):  # stage 2 runs after its own stage 1
        assert ran.index(f"out/s1/{dataset}/seed{seed}") < ran.index(f"out/s2/{dataset}/seed{seed}")
    assert "Sweep: " in printed[-3] and "1 failed" in printed[-3] and "1 blocked" in printed[-3]
    assert (world / "out" / "s1" / "beta" / "seed1" / sweep.CONSOLE_FILE).exists()

    assert sweep.main([spec], echo=printed.append) == 0
    second = calls(world)[len(first):]
    assert [out_of(c) for c in second] == ["out/s1/beta/seed1", "out/s2/beta/seed1"]
    resumed = json.loads((world / "out" / "s1" / "beta" / "seed1" / "results.json").read_text())
    assert resumed["resumed"] is True

    assert sweep.main([spec], echo=printed.append) == 0
    assert len(calls(world)) == len(first) + len(second)
    assert printed[-1] == "Sweep: 8 skipped"


def test_local_pool_runs_slots_concurrently_with_pinned_gpus(world, monkeypatch):
    peers = world / "peers"
    peers.mkdir()
    monkeypatch.setenv("FAKE_PEERS", str(peers))
    chains = sweep.plan(sweep.load_spec(two_stage_spec(world)))
    chains = [chain[:1] for chain in chains]  # stage 1 only: four independent runs
    statuses = sweep.run_local(chains, jobs=2, gpus=["3", "5"], echo=lambda _: None)
    assert [s for _, s in statuses] == ["ok"] * 4
    for chain in chains:
        result = json.loads((world / chain[0].output_dir / "results.json").read_text())
        assert result["saw_peer"] is True  # another run was in flight at the same time
    gpus = [c["gpu"] for c in calls(world)]
    assert sorted(set(gpus)) == ["3", "5"]


def test_command_line_sweep_places_flags_before_opts(world):
    printed = []
    argv = ["--trainer", "CoOp", "--config-file", "c.yaml", "--output-dir", "o/{dataset}_{seed}",
            "--datasets", "beta", "configs/datasets/alpha.yaml", "--seeds", "7", "--dry-run",
            "--", "--eval-only", "TEST.SPLIT", "{dataset}"]
    assert sweep.main(argv, echo=printed.append) == 0
    assert len(printed) == 2 and "o/beta_7" in printed[0] and "o/alpha_7" in printed[1]
    assert printed[1].endswith("--config-file c.yaml --eval-only TEST.SPLIT alpha")


def test_dataset_name_placeholder_is_the_registered_name(world):
    (world / "configs" / "datasets" / "beta.yaml").write_text('DATASET:\n  NAME: "BetaSet"\n')
    (world / "configs" / "datasets" / "gamma.yaml").write_text("INPUT:\n  SIZE: [224, 224]\n")
    with open(two_stage_spec(world, seeds=(1,))) as f:
        spec = json.load(f)
    spec["steps"][1]["opts"] += ["SPLE.PIC_LIB", "{root}/pool_{dataset_name}.json"]
    chains = sweep.plan(sweep.validate_spec(spec))
    assert [c[1].argv[-1] for c in chains] == ["DATA/pool_alpha.json", "DATA/pool_BetaSet.json"]
    spec["datasets"] = ["gamma"]  # a config without DATASET.NAME: the placeholder cannot be filled
    with pytest.raises(ValueError, match="cannot fill.*dataset_name"):
        sweep.plan(sweep.validate_spec(spec))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.update(colour="red"), "unknown keys ['colour']"),
        (lambda s: s.update(seeds=["1"]), "'seeds' must be integers"),
        (lambda s: s.update(datasets=["gamma"]), "Dataset 'gamma'"),
        (lambda s: s["steps"][1].update(output_dir="out/s1/{dataset}/seed{seed}"), "share the output dir"),
        (lambda s: s["steps"][1].update(args=["{stage3}"]), "stage3"),
        (lambda s: s["steps"][1].update(name="stage1"), "name 'stage1'"),
        (lambda s: s["steps"][1].update(name="dataset_name"), "name 'dataset_name'"),
        (lambda s: s["steps"][0].pop("trainer"), "steps[0] needs a non-empty string 'trainer'"),
        (lambda s: s["steps"].append({"name": "cmp", "compare": {"baseline": "{stage1}"}}),
         "steps[2] 'compare' must map 'baseline' and 'new'"),
        (lambda s: s["steps"].append({"name": "cmp", "trainer": "CoOp", "compare": dict(BOTH_STAGES)}),
         "steps[2] is a compare step; unknown keys ['trainer']"),
        (lambda s: s["steps"].extend([{"name": f"cmp{i}", "compare": dict(BOTH_STAGES)} for i in (1, 2)]),
         "both write confusion_compare.json"),
    ],
)
def test_bad_specs_name_the_problem(world, change, message):
    with open(two_stage_spec(world)) as f:
        spec = json.load(f)
    change(spec)
    with pytest.raises(ValueError) as info:
        sweep.plan(sweep.validate_spec(spec, "'sweep.json'"))
    assert message in str(info.value)


def test_compare_step_follows_its_runs_and_reruns_when_one_is_retrained(world):
    with open(two_stage_spec(world, datasets=("alpha",), seeds=(1,))) as f:
        spec = json.load(f)
    spec["steps"].append({"name": "resolved", "compare": {"baseline": "{stage1}", "new": "{stage2}"}})
    chains = sweep.plan(sweep.validate_spec(spec))
    compare = chains[0][2]
    assert compare.output_dir == "out/s2/alpha/seed1"
    assert compare.inputs == ("out/s1/alpha/seed1", "out/s2/alpha/seed1")
    assert list(compare.argv[-6:]) == ["--baseline", "out/s1/alpha/seed1", "--new", "out/s2/alpha/seed1",
                                       "--out-dir", "out/s2/alpha/seed1"]

    def statuses():
        return [status for _, status in sweep.run_local(chains, echo=lambda _: None)]

    assert statuses() == ["ok", "ok", "ok"]
    written = world / "out" / "s2" / "alpha" / "seed1" / "confusion_compare.json"
    result = json.loads(written.read_text())
    assert result["resolved"] == 2 and result["resolved_rate"] == pytest.approx(50.0)
    assert statuses() == ["skipped", "skipped", "skipped"]
    # stage 1 trained again: its predictions are newer than the comparison, which runs again
    os.utime(written, (1_000_000, 1_000_000))
    (world / "out" / "s1" / "alpha" / "seed1" / "finished.json").unlink()  # what a restart does
    assert statuses() == ["ok", "skipped", "ok"]
    assert written.stat().st_mtime > 1_000_000


def test_slurm_backend_submits_unfinished_chains(world, tmp_path):
    pytest.importorskip("submitit")
    chains = sweep.plan(sweep.load_spec(two_stage_spec(world, datasets=("alpha",), seeds=(1, 2))))
    finish_run(world / "out" / "s1" / "alpha" / "seed2")
    finish_run(world / "out" / "s2" / "alpha" / "seed2")
    printed = []
    statuses = sweep.run_slurm(chains, str(tmp_path / "slurm"), {"cluster": "debug"}, wait=True,
                               echo=printed.append)
    assert sorted(s for _, s in statuses) == ["ok", "ok", "skipped", "skipped"]
    assert len([p for p in printed if p.startswith("[submitted]")]) == 1
    assert [out_of(c) for c in calls(world)] == ["out/s1/alpha/seed1", "out/s2/alpha/seed1"]


def test_slurm_backend_without_submitit_says_what_to_install(world, monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)
    chains = sweep.plan(sweep.load_spec(two_stage_spec(world)))
    with pytest.raises(RuntimeError, match="pip install submitit"):
        sweep.run_slurm(chains, "unused", {})


@pytest.mark.slow
def test_real_training_run_is_recognised_as_finished(toy_world, tmp_path):
    """One CoOp epoch through the real train.py; a second sweep finds its outputs and skips it."""
    out = tmp_path / "coop" / "{dataset}" / "seed{seed}"
    spec = {
        "root": str(toy_world.root), "datasets": ["fashion_mnist"], "seeds": [1],
        "steps": [{"name": "coop", "trainer": "CoOp", "config": "configs/trainers/CoOp/toy_vit_s.yaml",
                   "output_dir": str(out),
                   "opts": {"MODEL.CLIP_WEIGHTS_DIR": str(toy_world.weights_dir), "OPTIM.MAX_EPOCH": 1,
                            "DATASET.NUM_SHOTS": 2, "DATASET.SUBSAMPLE_CLASSES": "base",
                            "DATALOADER.NUM_WORKERS": 0, "TRAIN.PROGRESS_BAR": False}}],
    }
    chains = sweep.plan(sweep.validate_spec(spec), cwd=str(REPO))  # the real train.py
    run_dir = tmp_path / "coop" / "fashion_mnist" / "seed1"
    statuses = sweep.run_local(chains, echo=lambda _: None)
    console = run_dir / sweep.CONSOLE_FILE
    assert statuses == [("coop fashion_mnist seed1", "ok")], console.read_text()[-3000:]
    assert sweep.is_finished(str(run_dir))
    log = (run_dir / "log.txt").read_text()
    assert "Finish training" in log and json.loads((run_dir / "results.json").read_text())["split"] == "test"
    assert sweep.run_local(chains, echo=lambda _: None) == [("coop fashion_mnist seed1", "skipped")]
    assert sorted(p.name for p in run_dir.glob("log.txt*")) == ["log.txt"]


SHIPPED_SPECS = sorted(p for p in (REPO / "configs" / "sweeps").iterdir() if p.suffix in (".yaml", ".json"))


@pytest.mark.parametrize("spec_path", SHIPPED_SPECS, ids=lambda p: p.name)
def test_shipped_sweep_specs_plan_runs_that_exist(spec_path):
    import trainers  # noqa: F401  (registers every trainer)
    from dassl.engine import TRAINER_REGISTRY

    spec = sweep.load_spec(str(spec_path))
    chains = sweep.plan(spec, cwd=str(REPO))
    assert len(chains) == len(spec["datasets"]) * len(spec["seeds"])
    registered = set(TRAINER_REGISTRY.registered_names())
    for chain in chains:
        assert len(chain) == len(spec["steps"])
        for run in chain:
            argv = list(run.argv)
            assert "{" not in " ".join(argv), f"{run.label}: unfilled placeholder in {argv}"
            if run.inputs:  # a compare step reads two earlier runs (or files of them) of the same chain
                dirs = {r.output_dir for r in chain if not r.inputs}
                assert all(i in dirs or i.rsplit("/", 1)[0] in dirs for i in run.inputs), run.label
                continue
            assert argv[argv.index("--trainer") + 1] in registered, run.label
            assert (REPO / argv[argv.index("--config-file") + 1]).is_file(), run.label
            assert (REPO / argv[argv.index("--dataset-config-file") + 1]).is_file(), run.label
            if "--model-dir" in argv:  # evaluation steps read an earlier step of the same chain
                assert argv[argv.index("--model-dir") + 1] in {r.output_dir for r in chain}, run.label


def test_output_placeholder_common_opts_and_step_filter(tmp_path):
    spec = sweep.validate_spec({
        "datasets": ["fashion_mnist"], "seeds": [1], "output": "out/a", "opts": {"TEST.PROTOCOL": "clean"},
        "steps": [{"name": "s1", "trainer": "CoOp", "output_dir": "{output}/s1/seed{seed}",
                   "opts": {"OPTIM.MAX_EPOCH": 1}},
                  {"name": "s2", "trainer": "CoOp", "output_dir": "{output}/s2",
                   "args": ["--model-dir", "{s1}"]},
                  {"name": "cmp", "compare": {"baseline": "{s2}/other.json", "new": "{s2}"}}]})
    chains = sweep.plan(spec, extra=["TEST.PROTOCOL", "published"], cwd=str(REPO))
    argv = list(chains[0][0].argv)
    assert argv[argv.index("--output-dir") + 1] == "out/a/s1/seed1"
    # common opts first, then the step's, then the command line's (which win)
    assert argv[-6:] == ["TEST.PROTOCOL", "clean", "OPTIM.MAX_EPOCH", "1", "TEST.PROTOCOL", "published"]
    picked = sweep.select_steps(chains, ["s2", "cmp"])
    assert [r.label.split()[0] for r in picked[0]] == ["s2", "cmp"]
    assert "out/a/s1/seed1" in picked[0][0].argv  # the skipped step still names its folder
    with pytest.raises(ValueError, match="unknown step"):
        sweep.select_steps(chains, ["nope"])
    with pytest.raises(ValueError, match="'opts' must be a mapping"):
        sweep.validate_spec({**spec, "opts": ["TEST.PROTOCOL"]})


def test_compare_step_with_a_predictions_file_is_current_after_it(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "backbone.json").write_text("{}")
    (run / sweep.COMPARE_INPUT).write_text("{}")
    assert not sweep.comparison_is_current(str(run), [str(run / "backbone.json"), str(run)])
    (run / sweep.COMPARE_OUTPUT).write_text("{}")
    assert sweep.comparison_is_current(str(run), [str(run / "backbone.json"), str(run)])
