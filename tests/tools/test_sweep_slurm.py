"""The sweep's SLURM backend: honest statuses after a requeue, per-step resources, executor parameter checks.

The executor is submitit's (debug) or a recording stand-in; no scheduler is needed.
"""

import contextlib
import json
import subprocess
import sys

import pytest
from test_sweep import REPO, calls, make_world, out_of, two_stage_spec

from tools import slurm_jobs, sweep

submitit = pytest.importorskip("submitit")


@pytest.fixture
def world(tmp_path, monkeypatch):
    return make_world(tmp_path, monkeypatch)


def labels_and_statuses(statuses):
    return [(label.split(" ", 1)[0], status) for label, status in statuses]


def spec_with(world, top=None, step2=None, **kwargs):
    path = two_stage_spec(world, **kwargs)
    spec = json.loads(open(path).read())
    if top is not None:
        spec["slurm"] = top
    if step2 is not None:
        spec["steps"][1]["slurm"] = step2
    open(path, "w").write(json.dumps(spec))
    return path


# ------------------------------------------------------------------------------------------------------
# Requeue
# ------------------------------------------------------------------------------------------------------
def test_requeued_job_reports_the_steps_an_earlier_attempt_trained(world, tmp_path, monkeypatch):
    chain = sweep.plan(sweep.load_spec(two_stage_spec(world, datasets=("alpha",), seeds=(1,))))[0]
    record = tmp_path / "state" / "chain0000.json"
    job = sweep.SlurmChain(str(record))
    real = sweep.run_child

    def preempted_in_stage2(argv, cwd, env, console):
        if "StackSPLE_PromptKD" in argv:
            raise KeyboardInterrupt("preempted")  # the scheduler stops the job in the middle of stage 2
        return real(argv, cwd, env, console)

    monkeypatch.setattr(sweep, "run_child", preempted_in_stage2)
    with pytest.raises(KeyboardInterrupt):
        job(chain)
    monkeypatch.setattr(sweep, "run_child", real)

    requeued = job.checkpoint(chain)  # what submitit submits again
    statuses = requeued.function(*requeued.args, **requeued.kwargs)
    assert labels_and_statuses(statuses) == [("stage1", "ok"), ("stage2", "ok")]
    assert [out_of(c) for c in calls(world)] == ["out/s1/alpha/seed1", "out/s2/alpha/seed1"]  # no retraining
    saved = json.loads(record.read_text())
    assert saved["attempts"] == 2
    assert {k.split()[0]: v for k, v in saved["steps"].items()} == {
        "stage1": {"status": "ok", "attempt": 1}, "stage2": {"status": "ok", "attempt": 2}}

    # A later submission (its own record) did not train them: "skipped" is the honest status there.
    again = sweep.SlurmChain(str(tmp_path / "state2" / "chain0000.json"))(chain)
    assert labels_and_statuses(again) == [("stage1", "skipped"), ("stage2", "skipped")]


def test_debug_executor_end_to_end_with_a_record(world, tmp_path):
    chains = sweep.plan(sweep.load_spec(two_stage_spec(world, datasets=("alpha",), seeds=(1,))))
    statuses = sweep.run_slurm(chains, str(tmp_path / "logs" / "%j"), {"cluster": "debug"}, wait=True,
                               echo=lambda *_: None)
    assert labels_and_statuses(statuses) == [("stage1", "ok"), ("stage2", "ok")]
    (record,) = (tmp_path / "logs" / slurm_jobs.STATE_FOLDER).glob("*/chain0000.json")
    assert json.loads(record.read_text())["attempts"] == 1


# ------------------------------------------------------------------------------------------------------
# Per-step resources
# ------------------------------------------------------------------------------------------------------
class RecordingExecutor(submitit.AutoExecutor):
    """Records what would be submitted to SLURM: the parameters, the callable and its chain."""

    submitted = []

    def __init__(self, folder, cluster=None):
        self.cluster = cluster
        self.params = {}

    @staticmethod
    def which():
        return "slurm"

    def update_parameters(self, **kwargs):
        self.params.update(kwargs)

    @contextlib.contextmanager
    def batch(self, allow_implicit_submissions=False):
        yield

    def submit(self, fn, *args, **kwargs):
        job = submitit.helpers.DelayedSubmission(fn, *args, **kwargs)
        job.job_id = str(1000 + len(self.submitted))
        self.submitted.append({"params": dict(self.params), "fn": fn, "chain": args[0], "job": job})
        return job


@pytest.fixture
def recorder(monkeypatch):
    RecordingExecutor.submitted = []
    monkeypatch.setattr(submitit, "AutoExecutor", RecordingExecutor)
    return RecordingExecutor.submitted


def test_steps_carry_their_own_slurm_resources(world, tmp_path, recorder):
    spec = spec_with(world, top={"gpus_per_node": 1, "timeout_min": 60},
                     step2={"timeout_min": 600, "mem_gb": 64}, datasets=("alpha",), seeds=(1, 2))
    printed = []
    code = sweep.main([spec, "--backend", "slurm", "--slurm", "slurm_partition=gpu", "--slurm", "mem_gb=32",
                       "--slurm-folder", str(tmp_path / "logs" / "%j")], echo=printed.append)
    assert code == 0
    stage1 = {"gpus_per_node": 1, "timeout_min": 60, "slurm_partition": "gpu", "mem_gb": 32}
    assert [s["params"] for s in recorder[:2]] == [stage1, stage1]  # one array: both chains' first job
    assert [(s["fn"].start, s["fn"].stop) for s in recorder] == [(0, 1), (0, 1), (1, 2), (1, 2)]
    for first, second in ((recorder[0], recorder[2]), (recorder[1], recorder[3])):
        assert second["chain"] == first["chain"]
        assert second["params"] == {  # the step's own over the spec's, the command line over both
            "gpus_per_node": 1, "timeout_min": 600, "slurm_partition": "gpu", "mem_gb": 32,
            "slurm_additional_parameters": {"dependency": f"afterok:{first['job'].job_id}",
                                            "kill_on_invalid_dep": "yes"}}
        assert second["fn"].record_path == first["fn"].record_path
    assert sum(line.startswith("[submitted]") for line in printed) == 4
    # Stage 2's job finds stage 1 unfinished if it ever runs without it: it reports, it does not train.
    assert labels_and_statuses(recorder[2]["fn"](recorder[2]["chain"])) == [("stage2", "blocked")]
    assert calls(world) == []


def test_steps_with_equal_resources_share_one_job(world, tmp_path, recorder):
    spec = spec_with(world, top={"timeout_min": 60}, step2={"timeout_min": 60}, datasets=("alpha",),
                     seeds=(1,))
    sweep.main([spec, "--backend", "slurm", "--slurm-folder", str(tmp_path / "logs")], echo=lambda *_: None)
    assert [(s["fn"].start, s["fn"].stop) for s in recorder] == [(0, 2)]


def test_a_chain_whose_first_job_is_done_submits_only_the_rest(world, tmp_path, recorder):
    from test_sweep import finish_run

    finish_run(world / "out" / "s1" / "alpha" / "seed1")
    chains = sweep.plan(sweep.load_spec(spec_with(world, step2={"timeout_min": 600}, datasets=("alpha",),
                                                  seeds=(1,))))
    statuses = sweep.run_slurm(chains, str(tmp_path / "logs"), {}, echo=lambda *_: None)
    assert labels_and_statuses(statuses) == [("stage1", "skipped"), ("stage2", "submitted")]
    assert [(s["fn"].start, s["fn"].stop) for s in recorder] == [(1, 2)]
    assert "slurm_additional_parameters" not in recorder[0]["params"]


# ------------------------------------------------------------------------------------------------------
# Bad executor parameters
# ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("where, value, message", [
    ("top", {"gpu_per_node": 1}, r"sweep\.json', 'slurm': unknown submitit parameter 'gpu_per_node'\. "
                                  r"Did you mean gpus_per_node"),
    ("step2", {"slurm_partitio": "gpu"}, r"steps\[1\] \(stage2\) 'slurm': unknown .* 'slurm_partitio'"),
    ("top", {"timeout_min": "12h"}, r"'slurm': submitit parameter 'timeout_min' must be int, got '12h'"),
    ("top", {"cluster": "slrum"}, r"cluster 'slrum' is not a submitit executor; accepted: .*'slurm'"),
])
def test_bad_executor_parameters_name_the_key_the_file_and_what_is_accepted(world, tmp_path, recorder,
                                                                          where, value, message):
    spec = spec_with(world, **{where: value})
    with pytest.raises(ValueError, match=message) as err:
        sweep.main([spec, "--backend", "slurm", "--slurm-folder", str(tmp_path / "logs")])
    if "unknown" in message:
        assert "Accepted: cluster, " in str(err.value) and "slurm_partition" in str(err.value)
    assert recorder == []  # nothing was submitted


def test_bad_command_line_parameter(world, tmp_path, recorder):
    with pytest.raises(ValueError, match=r"--slurm: unknown submitit parameter 'partition'\. "
                                         r"Did you mean .*slurm_partition"):
        sweep.main([two_stage_spec(world), "--backend", "slurm", "--slurm", "partition=gpu"])
    assert recorder == []


def test_bad_parameter_from_the_shell_is_one_line_not_a_traceback(world):
    spec = spec_with(world, top={"gpus_per_node": "two", "cluster": "debug"})
    result = subprocess.run([sys.executable, str(REPO / "tools" / "sweep.py"), spec, "--backend", "slurm"],
                            cwd=world, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "AssertionError" not in result.stderr
    assert result.stderr.startswith("sweep: Sweep spec ") and "'gpus_per_node' must be int" in result.stderr
