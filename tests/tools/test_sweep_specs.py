"""The published-table sweep specs plan, for one dataset and seed, the command lines of their scripts.

Each script runs from a scratch directory with a stand-in ``python`` on PATH that records its arguments (and
creates the checkpoint file a teacher run leaves), so the scripts' own argv is compared with the sweep's:
the same train.py flags and the same ``KEY VALUE`` overrides in the same order.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tools import sweep

REPO = Path(__file__).resolve().parents[2]
SWEEPS = REPO / "configs" / "sweeps"
DATASET, SEED, DATA = "dtd", 2, "/data/root"  # dtd: DATASET.NAME (DescribableTextures) differs from the stem
ELEVEN = ["imagenet", "caltech101", "oxford_pets", "stanford_cars", "oxford_flowers", "food101",
          "fgvc_aircraft", "sun397", "dtd", "eurosat", "ucf101"]
BOOLEAN_FLAGS = {"--eval-only", "--no-train", "--resume"}
_KEY = re.compile(r"^[A-Z][A-Z0-9_]*(\.[A-Z0-9_]+)+$")

RECORDING_PYTHON = """#!/bin/sh
exec "{python}" - "$@" <<'EOF'
import json, os, sys
argv = sys.argv[1:]
with open(os.environ["CALLS"], "a") as f:
    f.write(json.dumps(argv) + "\\n")
if "--output-dir" in argv:
    out = os.path.join(argv[argv.index("--output-dir") + 1], "VLPromptLearner")
    os.makedirs(out, exist_ok=True)
    open(os.path.join(out, "model.pth.tar-20"), "w").close()
EOF
"""


def script_calls(tmp_path, script, *args, env=None):
    """The argv of every ``python`` call of ``bash scripts/<script> args`` (run in a scratch directory)."""
    work = tmp_path / "work"
    if not work.exists():
        work.mkdir()
        (work / "configs").symlink_to(REPO / "configs")
        (work / "scripts").symlink_to(REPO / "scripts")
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        (bin_dir / "python").write_text(RECORDING_PYTHON.format(python=sys.executable))
        (bin_dir / "python").chmod(0o755)
    calls = tmp_path / "calls.jsonl"
    calls.write_text("")
    full_env = dict(os.environ, PATH=f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}", CALLS=str(calls),
                    DATA=DATA, TEACHER_ROOT=str(tmp_path / "teachers"), **(env or {}))
    for name in ("TRAINER", "CFG", "OUTPUT", "EXTRA_OPTS", "KD_WEIGHT"):
        if name not in (env or {}):
            full_env.pop(name, None)
    done = subprocess.run(["bash", f"scripts/{script}", *map(str, args)], cwd=work, env=full_env,
                          capture_output=True, text=True)
    assert done.returncode == 0, f"{script}: {done.stderr}"
    return [json.loads(line) for line in calls.read_text().splitlines()]


def parsed(argv):
    """(train.py flags as a dict, KEY VALUE overrides as an ordered list of pairs) of a train.py argv."""
    argv = list(argv[argv.index("train.py") + 1:])
    flags, i = {}, 0
    while i < len(argv) and not _KEY.match(argv[i]):
        if argv[i] in BOOLEAN_FLAGS:
            flags[argv[i]], i = True, i + 1
        else:
            flags[argv[i]], i = argv[i + 1], i + 2
    pairs = argv[i:]
    assert len(pairs) % 2 == 0, f"odd KEY VALUE list {pairs}"
    return flags, list(zip(pairs[::2], pairs[1::2]))


def planned(spec_name):
    """The chain of ``spec_name`` for DATASET / SEED with root DATA, as {step name: Run}, in chain order."""
    spec = sweep.load_spec(str(SWEEPS / spec_name))
    spec.update(datasets=[DATASET], seeds=[SEED], root=DATA)
    [chain] = sweep.plan(spec, cwd=str(REPO))
    return {run.label.split(" ")[0]: run for run in chain}


def assert_same_train_call(run, script_argv):
    assert parsed(run.argv) == parsed(script_argv), run.label


def test_published_table_specs_cover_the_eleven_datasets_and_three_seeds():
    for name in ("capt_base2new.yaml", "capt_ucp_base2new.yaml"):
        spec = sweep.load_spec(str(SWEEPS / name))
        assert sorted(spec["datasets"]) == sorted(ELEVEN) and spec["seeds"] == [1, 2, 3], name
    xd = sweep.load_spec(str(SWEEPS / "promptkd_xd.yaml"))
    targets = set(ELEVEN) - {"imagenet"} | {"imagenetv2", "imagenet_sketch", "imagenet_a", "imagenet_r"}
    assert set(xd["datasets"]) == targets and xd["seeds"] == [1, 2, 3]
    for name in ("capt_base2new", "capt_ucp_base2new", "promptkd_xd", "promptkd_teachers"):
        slurm = sweep.load_spec(str(SWEEPS / f"{name}.yaml"))["slurm"]
        assert slurm["gpus_per_node"] >= 1, name  # submitit's default is none


def test_capt_spec_follows_the_capt_scripts(tmp_path):
    runs = planned("capt_base2new.yaml")
    assert list(runs) == ["stage1", "stage1_new", "stage2", "resolved", "new"]
    [stage1] = script_calls(tmp_path, "capt/stage1.sh", DATASET, SEED)
    assert_same_train_call(runs["stage1"], stage1)
    train, compare = script_calls(tmp_path, "capt/stage2.sh", DATASET, SEED)
    assert_same_train_call(runs["stage2"], train)
    assert ("SPLE.PIC_LIB", f"{DATA}/SPLE_database/SPLE_DescribableTextures.json") in parsed(train)[1]
    # the script's compare_runs call writes into the stage-2 folder, where the sweep's --out-dir points
    assert compare[:2] == ["-m", "tools.confusion.compare_runs"]
    resolved = runs["resolved"]
    assert list(resolved.argv[-6:]) == [*compare[2:], "--out-dir", runs["stage2"].output_dir]
    [new] = script_calls(tmp_path, "capt/eval_new.sh", DATASET, SEED)
    assert_same_train_call(runs["new"], new)
    # stage1_new (no script): stage 1's command, evaluating its best model on the new classes
    flags, opts = parsed(runs["stage1_new"].argv)
    s1_flags, s1_opts = parsed(stage1)
    assert flags.pop("--eval-only") is True and flags.pop("--model-dir") == runs["stage1"].output_dir
    assert flags.pop("--output-dir") == s1_flags.pop("--output-dir").replace("/train_base/", "/test_new/")
    assert flags == s1_flags
    assert opts == [(k, "test" if k == "TEST.SPLIT" else v) for k, v in s1_opts]


CAPT_UCP_STEPS = [("coop", "CoOp"), ("ucpcoop", "UCPCoOp"), ("kgcoop", "KgCoOp"),
                  ("ucpkgcoop", "UCPKgCoOp"), ("prograd", "ProGrad"), ("ucpprograd", "UCPProGrad"),
                  ("dapt", "DAPT"), ("ucpdapt", "UCPDAPT"), ("dept", "KgCoOpDePT"),
                  ("decapt", "UCPKgCoOpDePT")]


def test_capt_ucp_spec_follows_the_capt_ucp_scripts(tmp_path):
    runs = planned("capt_ucp_base2new.yaml")
    expected = ["prototype"] + [name for step, _ in CAPT_UCP_STEPS for name in (step, f"{step}_new")]
    assert list(runs) == expected  # DAPT's prototypes first; each evaluation after its own training
    [prototype] = script_calls(tmp_path, "dapt/gen_prototype.sh", DATASET, SEED)
    assert_same_train_call(runs["prototype"], prototype)
    for step, trainer in CAPT_UCP_STEPS:
        env = {"TRAINER": trainer}
        [train] = script_calls(tmp_path, "capt_ucp/base2new_train.sh", DATASET, SEED, env=env)
        assert_same_train_call(runs[step], train)
        [test] = script_calls(tmp_path, "capt_ucp/base2new_test.sh", DATASET, SEED, env=env)
        assert_same_train_call(runs[f"{step}_new"], test)
        assert parsed(runs[f"{step}_new"].argv)[0]["--model-dir"] == runs[step].output_dir


def test_promptkd_specs_follow_the_promptkd_scripts(tmp_path):
    runs = planned("promptkd_xd.yaml")
    [xd] = script_calls(tmp_path, "promptkd/xd_train.sh", DATASET, SEED)
    assert list(runs) == ["xd"]
    assert_same_train_call(runs["xd"], xd)
    teachers = planned("promptkd_teachers.yaml")
    [teacher] = script_calls(tmp_path, "promptkd/train_teacher.sh", DATASET, SEED)
    assert list(teachers) == ["teacher"]
    assert_same_train_call(teachers["teacher"], teacher)
    placed = tmp_path / "teachers" / "DescribableTextures" / "VLPromptLearner" / "model-best.pth.tar"
    assert placed.is_file()  # the script, run after the sweep, places the teacher where PromptKD reads it


@pytest.mark.parametrize("spec_name", ["capt_base2new.yaml", "capt_ucp_base2new.yaml", "promptkd_xd.yaml"])
def test_published_table_specs_plan_every_dataset_and_seed(spec_name):
    spec = sweep.load_spec(str(SWEEPS / spec_name))
    chains = sweep.plan(spec, cwd=str(REPO))
    outputs = [run.output_dir for chain in chains for run in chain if not run.inputs]
    assert len(outputs) == len(set(outputs))  # no two runs share a folder
    for chain, (dataset, seed) in zip(chains, [(d, s) for d in spec["datasets"] for s in spec["seeds"]]):
        for run in chain:
            assert f"/{dataset}/" in run.output_dir and run.output_dir.endswith(f"seed{seed}"), run.label
