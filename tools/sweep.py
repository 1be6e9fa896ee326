"""Run train.py over datasets x seeds x ordered steps, on a local process pool or on SLURM.

Each (dataset, seed) pair is a chain whose steps run in order; a step may use the output directory
of an earlier step as ``{<step name>}``. A step whose output directory holds a finished, current run
(``finished.json``, see ``dassl.run_state``) is skipped; any other step is (re)started into the same
directory, which train.py resumes from its last checkpoint. A failed step stops the rest of its chain
only. Spec::

    root: DATA                                 # --root of every run
    datasets: [caltech101, dtd]                # configs/datasets/<name>.yaml, or paths to .yaml files
    seeds: [1, 2, 3]
    steps:
      - name: stage1
        trainer: PromptKD
        config: configs/trainers/PromptKD/vit_b16_c2_ep20_batch32_4+4ctx.yaml
        output_dir: output/stage1/{dataset}/seed{seed}
        opts: {DATASET.NUM_SHOTS: 0, TEST.SPLIT: val}       # KEY VALUE overrides
      - name: stage2
        trainer: StackSPLE_PromptKD
        config: configs/trainers/SPLE/PromptKD/vit_b16_c2_ep20_batch4_4+4ctx.yaml
        output_dir: output/stage2/{dataset}/seed{seed}
        args: [--model-dir, "{stage1}"]                     # extra train.py flags
        opts: {SPLE.BACK_CKPT_PATH: "{stage1}"}
        slurm: {timeout_min: 2880}                          # SLURM resources of this step (merged
                                                            # over the spec's slurm: mapping)
      - name: resolved                                      # a compare step, no training:
        compare: {baseline: "{stage1}", new: "{stage2}"}    # tools.confusion.compare_runs, whose
                                                            # confusion_compare.json goes to the new run

Optional top-level keys: ``output`` (the ``{output}`` placeholder, e.g. an output root that ``--output``
replaces) and ``opts`` (KEY VALUE overrides of every train step, before the step's own; e.g.
``TEST.PROTOCOL: clean``). Placeholders ({dataset}, {dataset_name} = the config's DATASET.NAME, {seed},
{root}, {output}, earlier step names) work in output_dir, args, opts and compare; a compare run may also be a
``.json`` predictions file. A compare step is done when its file is newer than the predictions of both runs.
``--steps`` runs only the named steps (the others are neither run nor checked; their output dirs still fill
the placeholders).
See docs/sweeps.md for the command line.
"""

import argparse
import contextlib
import glob
import json
import os
import os.path as osp
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import yaml

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from dassl.run_state import is_finished  # noqa: E402  (no torch import)
from tools.slurm_jobs import (  # noqa: E402
    CLUSTER_KEY,
    ChainRecord,
    check_executor_params,
    job_parts,
    require_submitit,
    state_folder,
)

SPEC_KEYS = {"root", "datasets", "seeds", "steps", "command", "slurm", "output", "opts"}
STEP_KEYS = {"name", "trainer", "config", "output_dir", "args", "opts", "slurm"}
COMPARE_KEYS = {"name", "compare", "output_dir", "slurm"}
# What a compare step (tools.confusion.compare_runs) reads from its two runs and writes.
COMPARE_INPUT = "wrong_predictions.json"
COMPARE_OUTPUT = "confusion_compare.json"
# Run by path (it finds this repository's packages itself), so the sweep may run from any directory.
COMPARE_SCRIPT = osp.join(osp.dirname(osp.abspath(__file__)), "confusion", "compare_runs.py")
RESERVED = {"dataset", "dataset_name", "seed", "root", "output"}
CONSOLE_FILE = "sweep_console.txt"
_CONFIG_KEY = re.compile(r"^[A-Z][A-Z0-9_]*(\.[A-Z0-9_]+)+$")


@dataclass(frozen=True)
class Run:
    """One invocation of a chain: a train.py run, or a compare step over two earlier runs."""

    label: str  # "<step> <dataset> seed<seed>"
    output_dir: str
    argv: tuple
    cwd: str
    inputs: tuple = ()  # compare steps: the baseline and new run dirs
    slurm: tuple = ()  # the step's own SLURM parameters, as (key, value) pairs

    def finished(self):
        out = osp.join(self.cwd, self.output_dir)
        if not self.inputs:
            return is_finished(out)
        return comparison_is_current(out, [osp.join(self.cwd, d) for d in self.inputs])


def comparison_is_current(output_dir, run_dirs):
    """True when ``output_dir`` holds a comparison written after the predictions of every run it compares,
    so a run that was trained again is compared again."""
    path = osp.join(output_dir, COMPARE_OUTPUT)
    if not osp.exists(path):
        return False
    written = osp.getmtime(path)
    inputs = [d if d.endswith(".json") else osp.join(d, COMPARE_INPUT) for d in run_dirs]
    return all(osp.exists(p) and osp.getmtime(p) <= written for p in inputs)


def _fail(source, message):
    raise ValueError(f"Sweep spec {source}: {message}")


def validate_spec(spec, source="(command line)"):
    """Check the spec's keys and types; return it with defaults filled in."""
    if not isinstance(spec, dict):
        _fail(source, f"expected a mapping at the top level, got {type(spec).__name__}")
    unknown = set(spec) - SPEC_KEYS
    if unknown:
        _fail(source, f"unknown keys {sorted(unknown)}; allowed: {sorted(SPEC_KEYS)}")
    defaults = {"root": "", "command": [sys.executable, "train.py"], "slurm": {}, "output": "", "opts": {}}
    spec = {**defaults, **spec}
    if not isinstance(spec["output"], str):
        _fail(source, f"'output' must be a string, got {spec['output']!r}")
    if not isinstance(spec["opts"], dict):
        _fail(source, f"'opts' must be a mapping of KEY: VALUE, got {spec['opts']!r}")
    for key in ("datasets", "seeds", "steps"):
        if not isinstance(spec.get(key), list) or not spec[key]:
            _fail(source, f"'{key}' must be a non-empty list, got {spec.get(key)!r}")
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in spec["seeds"]):
        _fail(source, f"'seeds' must be integers, got {spec['seeds']!r}")
    if not isinstance(spec["command"], list) or not spec["command"]:
        _fail(source, f"'command' must be a non-empty list of strings, got {spec['command']!r}")
    if not isinstance(spec["slurm"], dict):
        _fail(source, f"'slurm' must be a mapping of submitit parameters, got {spec['slurm']!r}")
    names = []
    for i, step in enumerate(spec["steps"]):
        where = f"steps[{i}]"
        if not isinstance(step, dict):
            _fail(source, f"{where} must be a mapping, got {step!r}")
        if "compare" in step:
            _validate_compare_step(step, where, source)
        elif set(step) - STEP_KEYS:
            unknown = sorted(set(step) - STEP_KEYS)
            _fail(source, f"{where} has unknown keys {unknown}; allowed: {sorted(STEP_KEYS)}")
        for key in ("name",) if "compare" in step else ("name", "trainer", "output_dir"):
            if not isinstance(step.get(key), str) or not step[key]:
                _fail(source, f"{where} needs a non-empty string '{key}', got {step.get(key)!r}")
        name = step["name"]
        if not name.isidentifier() or name in RESERVED or name in names:
            _fail(source, f"{where} name {name!r} must be a new identifier other than {sorted(RESERVED)}")
        names.append(name)
        if not isinstance(step.get("args", []), list):
            _fail(source, f"{where} 'args' must be a list, got {step['args']!r}")
        opts = step.get("opts", {})
        if not isinstance(opts, dict) and not (isinstance(opts, list) and len(opts) % 2 == 0):
            _fail(source, f"{where} 'opts' must be a mapping or a KEY VALUE list, got {opts!r}")
        if not isinstance(step.get("slurm", {}), dict):
            _fail(source, f"{where} 'slurm' must be a mapping of submitit parameters, got {step['slurm']!r}")
        if CLUSTER_KEY in step.get("slurm", {}):
            _fail(source, f"{where} 'slurm' cannot set '{CLUSTER_KEY}': one sweep uses one executor")
    return spec


def check_slurm_params(spec, cli_params, source):
    """Check every submitit parameter of the spec (top level and per step) and the command line."""
    check_executor_params(spec["slurm"], f"Sweep spec {source}, 'slurm'")
    for i, step in enumerate(spec["steps"]):
        where = f"Sweep spec {source}, steps[{i}] ({step['name']}) 'slurm'"
        check_executor_params(step.get("slurm", {}), where)
    check_executor_params(cli_params, "--slurm")


def _validate_compare_step(step, where, source):
    if set(step) - COMPARE_KEYS:
        unknown = sorted(set(step) - COMPARE_KEYS)
        _fail(source, f"{where} is a compare step; unknown keys {unknown}; allowed: {sorted(COMPARE_KEYS)}")
    runs = step["compare"]
    if not isinstance(runs, dict) or set(runs) != {"baseline", "new"} or not all(
            isinstance(v, str) and v for v in runs.values()):
        _fail(source, f"{where} 'compare' must map 'baseline' and 'new' to run dirs, got {runs!r}")
    if "output_dir" in step and (not isinstance(step["output_dir"], str) or not step["output_dir"]):
        _fail(source, f"{where} 'output_dir' must be a non-empty string, got {step['output_dir']!r}")


def load_spec(path):
    with open(path) as f:
        spec = json.load(f) if path.endswith(".json") else yaml.safe_load(f)
    return validate_spec(spec, f"'{path}'")


def dataset_config(entry, cwd):
    """(placeholder name, config path) of a dataset entry: a name under configs/datasets or a path."""
    entry = str(entry)
    path = entry if entry.endswith((".yaml", ".yml")) else osp.join("configs", "datasets", f"{entry}.yaml")
    if not osp.isfile(osp.join(cwd, path)):
        shipped = glob.glob(osp.join(cwd, "configs", "datasets", "*.yaml"))
        known = sorted(osp.basename(p)[:-5] for p in shipped)
        raise ValueError(f"Dataset {entry!r}: config file '{path}' not found; known names: {known}")
    return osp.splitext(osp.basename(path))[0], path


def registered_dataset_name(config_path):
    """``DATASET.NAME`` of a dataset config (``DescribableTextures`` for dtd.yaml), or None without one;
    published scripts build per-dataset file names from it (CAPT's ``SPLE_<NAME>.json`` pools)."""
    with open(config_path) as f:
        data = yaml.safe_load(f)
    node = data.get("DATASET") if isinstance(data, dict) else None
    name = node.get("NAME") if isinstance(node, dict) else None
    return str(name) if name else None


def _fill(text, values, label):
    try:
        return str(text).format_map(values)
    except (KeyError, IndexError, ValueError) as e:
        raise ValueError(f"{label}: cannot fill {text!r} ({e!r}); placeholders: {sorted(values)}") from e


def _split_extra(extra):
    """Split trailing command-line words into train.py flags and KEY VALUE pairs (from the first
    dotted upper-case key on), so flags land before the step's opts and pairs after them (and win)."""
    for i, word in enumerate(extra):
        if _CONFIG_KEY.match(word):
            return extra[:i], extra[i:]
    return extra, []


def plan(spec, extra=(), cwd=None):
    """The chains of ``spec``: one list of :class:`Run` per (dataset, seed), steps in order."""
    cwd = cwd or os.getcwd()
    chains, seen = [], {}
    for entry in spec["datasets"]:
        dataset, dataset_cfg = dataset_config(entry, cwd)
        name = registered_dataset_name(osp.join(cwd, dataset_cfg))
        for seed in spec["seeds"]:
            values = {"dataset": dataset, "seed": seed, "root": spec["root"], "output": spec["output"]}
            if name:
                values["dataset_name"] = name
            chain = []
            for step in spec["steps"]:
                label = f"{step['name']} {dataset} seed{seed}"
                if "compare" in step:
                    run = _compare_run(step, values, label, cwd, _slurm_items(step))
                    # it writes one file of its own, by default next to the new run's outputs
                    key = (run.output_dir, COMPARE_OUTPUT)
                    if key in seen:
                        raise ValueError(f"{label} and {seen[key]} both write {COMPARE_OUTPUT} in '{key[0]}'")
                    seen[key] = label
                    chain.append(run)
                    values[step["name"]] = run.output_dir
                    continue
                out = _fill(step["output_dir"], values, label)
                if out in seen:
                    raise ValueError(f"{label} and {seen[out]} share the output dir '{out}'")
                seen[out] = label
                opts = step.get("opts", {})
                opts = [x for kv in opts.items() for x in kv] if isinstance(opts, dict) else opts
                opts = [x for kv in spec["opts"].items() for x in kv] + list(opts)
                argv = [*spec["command"], "--seed", str(seed), "--trainer", step["trainer"],
                        "--dataset-config-file", dataset_cfg, "--output-dir", out]
                if spec["root"]:
                    argv += ["--root", spec["root"]]
                if step.get("config"):
                    argv += ["--config-file", step["config"]]
                flags, pairs = _split_extra(list(extra))
                tail = [*step.get("args", []), *flags, *opts, *pairs]
                argv += [_fill(a, values, label) for a in tail]
                chain.append(Run(label, out, tuple(str(a) for a in argv), cwd, slurm=_slurm_items(step)))
                values[step["name"]] = out
            chains.append(chain)
    return chains


def _slurm_items(step):
    return tuple(sorted(step.get("slurm", {}).items()))


def _compare_run(step, values, label, cwd, slurm=()):
    """The compare step: ``tools/confusion/compare_runs.py`` on two runs of the chain."""
    baseline = _fill(step["compare"]["baseline"], values, label)
    new = _fill(step["compare"]["new"], values, label)
    out = _fill(step.get("output_dir", new), values, label)
    argv = [sys.executable, COMPARE_SCRIPT, "--baseline", baseline, "--new", new, "--out-dir", out]
    return Run(label, out, tuple(argv), cwd, inputs=(baseline, new), slurm=slurm)


_CHILDREN = set()  # running train.py processes, each the leader of its own process group
_CHILDREN_LOCK = threading.Lock()


def run_child(argv, cwd, env, console):
    """Run one step in its own process group (its loader workers included); return its exit code."""
    child = subprocess.Popen(argv, cwd=cwd, env=env, stdout=console, stderr=subprocess.STDOUT,
                             start_new_session=True)
    with _CHILDREN_LOCK:
        _CHILDREN.add(child)
    try:
        return child.wait()
    finally:
        with _CHILDREN_LOCK:
            _CHILDREN.discard(child)


@contextlib.contextmanager
def forward_signals():
    """SIGTERM / SIGINT / SIGHUP to the sweep reach every running step's process group, then stop the sweep
    (children run in their own sessions, so a terminal's Ctrl-C or a scheduler's kill would miss them)."""
    def handler(signum, frame):
        with _CHILDREN_LOCK:
            children = list(_CHILDREN)
        for child in children:
            try:
                os.killpg(child.pid, signum)
            except ProcessLookupError:
                pass
        raise KeyboardInterrupt(f"sweep stopped by signal {signum}")

    signums = [getattr(signal, n) for n in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, n)]
    previous = {signum: signal.signal(signum, handler) for signum in signums}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def select_steps(chains, names):
    """Keep only the runs of the steps in ``names`` (all when None); unknown names are an error."""
    if not names:
        return chains
    known = {run.label.split(" ", 1)[0] for chain in chains for run in chain}
    unknown = sorted(set(names) - known)
    if unknown:
        raise ValueError(f"--steps: unknown step(s) {unknown}; steps: {sorted(known)}")
    return [[run for run in chain if run.label.split(" ", 1)[0] in names] for chain in chains]


def run_chain(chain, env=None, echo=print, record=None, start=0):
    """Run the unfinished steps of ``chain[start:]`` in order; return [(label, status)] with status one of
    skipped / ok / failed / blocked (an earlier step failed, or one before ``start`` is not finished).

    ``record`` (a :class:`tools.slurm_jobs.ChainRecord`, SLURM jobs only) notes every step's outcome, so that
    a requeued job reports a step an earlier attempt trained as "ok", not "skipped". Steps before ``start``
    belong to an earlier job of the chain.
    """
    if record is not None:
        record.start_attempt()
    statuses = []
    failed = any(not run.finished() for run in chain[:start])
    for run in chain[start:]:
        out = osp.join(run.cwd, run.output_dir)
        if failed:
            statuses.append((run.label, "blocked"))
        elif run.finished():
            earlier = record is not None and record.status(run.label) == "ok"
            statuses.append((run.label, "ok" if earlier else "skipped"))
            if earlier:
                echo(f"[done] {run.label} (in attempt {record.attempt_of(run.label)})")
        else:
            os.makedirs(out, exist_ok=True)
            echo(f"[start] {run.label} -> {run.output_dir}")
            if record is not None:
                record.set(run.label, "running")
            with open(osp.join(out, CONSOLE_FILE), "a") as console:
                code = run_child(run.argv, run.cwd, env, console)
            failed = code != 0
            statuses.append((run.label, "failed" if failed else "ok"))
            if record is not None:
                record.set(run.label, statuses[-1][1])
            echo(f"[{'FAIL' if failed else 'done'}] {run.label}" +
                 (f" (exit {code}; see {osp.join(run.output_dir, CONSOLE_FILE)})" if failed else ""))
    return statuses


def run_local(chains, jobs=1, gpus=None, echo=print):
    """Run chains on ``jobs`` worker slots; slot i sees CUDA_VISIBLE_DEVICES=gpus[i % len(gpus)]."""
    gpus = list(gpus or [])
    jobs = jobs or max(len(gpus), 1)
    slots = queue.Queue()
    for i in range(jobs):
        slots.put(gpus[i % len(gpus)] if gpus else None)

    def work(chain):
        gpu = slots.get()
        try:
            env = dict(os.environ, **({"CUDA_VISIBLE_DEVICES": str(gpu)} if gpu is not None else {}))
            return run_chain(chain, env, echo)
        finally:
            slots.put(gpu)

    pool = ThreadPoolExecutor(jobs)
    try:
        return [s for statuses in pool.map(work, chains) for s in statuses]
    finally:  # on Ctrl-C, start no further chain (the running ones get the signal too)
        pool.shutdown(wait=True, cancel_futures=True)


class SlurmChain:
    """The callable submitted per job: steps ``start:stop`` of a chain. On timeout or preemption submitit
    requeues it with the same arguments; the requeued job skips finished steps, resumes the interrupted one
    from its checkpoint, and, through the record at ``record_path``, reports the steps an earlier attempt
    trained as "ok"."""

    def __init__(self, record_path=None, start=0, stop=None):
        self.record_path = record_path
        self.start = start
        self.stop = stop

    def __call__(self, chain):
        record = ChainRecord(self.record_path) if self.record_path else None
        return run_chain(chain[: self.stop], record=record, start=self.start)

    def checkpoint(self, chain):
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, chain)


def _chain_name(chain):
    return chain[0].label.split(" ", 1)[1]


def _new_executor(submitit, folder, cluster, params):
    """A fresh executor per parameter set (update_parameters accumulates, so executors are not reused)."""
    executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
    executor.update_parameters(**params)
    return executor


def run_slurm(chains, folder, params, wait=False, echo=print, overrides=None):
    """Submit the unfinished chains; ``params`` (the spec's ``slurm:``) go to ``update_parameters`` with
    each step's own ``slurm:`` merged over them and ``overrides`` (``--slurm``) over both. ``cluster``
    selects the submitit executor: slurm, local or debug.

    On SLURM, consecutive steps of a chain with the same resources form one job, and a chain whose steps
    differ continues in a job that starts after the previous one succeeded (``--dependency=afterok``);
    the first jobs of all chains with the same resources form one job array. The local and debug executors
    have no dependencies: there each chain is one job with the spec-level parameters.
    """
    submitit = require_submitit()
    params, overrides = dict(params), dict(overrides or {})  # checked by main (check_slurm_params)
    cluster = overrides.pop(CLUSTER_KEY, params.pop(CLUSTER_KEY, None))
    todo = [c for c in chains if not all(r.finished() for r in c)]
    statuses = [(r.label, "skipped") for c in chains if c not in todo for r in c]
    if not todo:
        return statuses
    per_step = (cluster or submitit.AutoExecutor.which()) == "slurm"

    def resources(run):
        return {**params, **(dict(run.slurm) if per_step else {}), **overrides}

    state = state_folder(folder)
    plans = []  # (chain, [(start, stop, params)], record path)
    for i, chain in enumerate(todo):
        parts = job_parts(chain, resources)
        while all(r.finished() for r in chain[parts[0][0]: parts[0][1]]):  # done earlier: nothing to submit
            statuses += [(r.label, "skipped") for r in chain[parts[0][0]: parts[0][1]]]
            parts.pop(0)
        for _, _, part_params in parts:
            check_executor_params(part_params, f"slurm parameters of {_chain_name(chain)}")
        plans.append((chain, parts, osp.join(state, f"chain{i:04d}.json")))

    jobs = {}  # (chain index, part index) -> job
    groups = {}  # the first job of every chain, one array per parameter set
    for i, (_, parts, _) in enumerate(plans):
        key = json.dumps(parts[0][2], sort_keys=True, default=str)
        groups.setdefault(key, (parts[0][2], []))[1].append(i)
    for first_params, members in groups.values():
        executor = _new_executor(submitit, folder, cluster, first_params)
        with executor.batch():
            for i in members:
                chain, parts, record = plans[i]
                jobs[i, 0] = executor.submit(SlurmChain(record, parts[0][0], parts[0][1]), chain)
    for i, (chain, parts, record) in enumerate(plans):
        start, stop, _ = parts[0]
        steps = f"{stop - start} step{'s' if stop - start != 1 else ''}"
        echo(f"[submitted] job {jobs[i, 0].job_id}: {_chain_name(chain)} ({steps})")
        for k, (start, stop, part_params) in enumerate(parts[1:], 1):
            previous = jobs[i, k - 1].job_id
            extra = dict(part_params.get("slurm_additional_parameters") or {})
            extra.update(dependency=f"afterok:{previous}", kill_on_invalid_dep="yes")
            executor = _new_executor(submitit, folder, cluster,
                                     {**part_params, "slurm_additional_parameters": extra})
            jobs[i, k] = executor.submit(SlurmChain(record, start, stop), chain)
            names = ", ".join(r.label.split(" ", 1)[0] for r in chain[start:stop])
            echo(f"[submitted] job {jobs[i, k].job_id}: {_chain_name(chain)}, {names} (after job {previous})")
    if not wait:
        return statuses + [(r.label, "submitted") for chain, parts, _ in plans
                           for start, stop, _ in parts for r in chain[start:stop]]
    for i, (chain, parts, _) in enumerate(plans):
        broken = False
        for k, (start, stop, _) in enumerate(parts):
            labels = [r.label for r in chain[start:stop]]
            if broken:  # SLURM cancels it (kill-on-invalid-dep), or it finds its earlier steps unfinished
                statuses += [(label, "blocked") for label in labels]
                continue
            try:
                part = jobs[i, k].result()
            except Exception as e:  # noqa: BLE001  (the job itself died: report it, keep the other chains)
                echo(f"[FAIL] job {jobs[i, k].job_id}: {type(e).__name__}: {e}")
                part = [(label, "failed") for label in labels]
            statuses += part
            broken = any(status in ("failed", "blocked") for _, status in part)
    return statuses


def _parse_kv(items):
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--slurm expects KEY=VALUE, got {item!r}")
        out[key] = yaml.safe_load(value)
    return out


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                epilog="Arguments after '--' are appended to every train.py command.")
    p.add_argument("spec", nargs="?", help="sweep spec (.yaml/.json); or describe one step with the flags")
    p.add_argument("--trainer", help="trainer of a one-step sweep")
    p.add_argument("--config-file", default="", help="trainer config of a one-step sweep")
    p.add_argument("--output-dir", help="output dir pattern of a one-step sweep, with {dataset} and {seed}")
    p.add_argument("--datasets", nargs="+", help="dataset names or config paths (override the spec)")
    p.add_argument("--seeds", nargs="+", type=int, help="seeds (override the spec)")
    p.add_argument("--root", help="data root (overrides the spec)")
    p.add_argument("--output", help="the {output} placeholder (overrides the spec's 'output')")
    p.add_argument("--steps", nargs="+", metavar="NAME", help="run only these steps of each chain")
    p.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    p.add_argument("--backend", choices=("local", "slurm"), default="local")
    p.add_argument("--jobs", type=int, default=0, help="local: concurrent chains (default: #gpus or 1)")
    p.add_argument("--gpus", nargs="+", help="local: CUDA_VISIBLE_DEVICES per slot (0 1, or 0,1 2,3)")
    p.add_argument("--slurm", action="append", metavar="KEY=VALUE", help="submitit parameter, repeatable")
    p.add_argument("--slurm-folder", default="output/slurm/%j", help="slurm: submitit log folder")
    p.add_argument("--wait", action="store_true", help="slurm: wait for the jobs and report their status")
    return p


def main(argv=None, echo=print):
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    args = build_parser().parse_args(argv[: len(argv) - len(extra) - (1 if "--" in argv else 0)])
    if args.spec:
        spec = load_spec(args.spec)
    else:
        if not (args.trainer and args.output_dir):
            build_parser().error("give a spec file, or --trainer and --output-dir (and --datasets, --seeds)")
        step = {"name": "run", "trainer": args.trainer, "config": args.config_file,
                "output_dir": args.output_dir}
        spec = {"datasets": args.datasets, "seeds": args.seeds, "steps": [step]}
    spec.update({k: v for k, v in (("datasets", args.datasets), ("seeds", args.seeds),
                                   ("root", args.root), ("output", args.output)) if v is not None})
    spec = validate_spec(spec, f"'{args.spec}'" if args.spec else "(command line)")
    chains = select_steps(plan(spec, extra), args.steps)
    if args.dry_run:
        for run in (r for chain in chains for r in chain):
            done = run.finished()
            echo(f"# finished, skip: {run.output_dir}" if done else shlex.join(run.argv))
        return 0
    if args.backend == "slurm":
        cli_params = _parse_kv(args.slurm)
        check_slurm_params(spec, cli_params, f"'{args.spec}'" if args.spec else "(command line)")
        statuses = run_slurm(chains, args.slurm_folder, spec["slurm"], args.wait, echo, overrides=cli_params)
    else:
        in_main = threading.current_thread() is threading.main_thread()
        with forward_signals() if in_main else contextlib.nullcontext():
            statuses = run_local(chains, args.jobs, args.gpus, echo)
    counts = Counter(status for _, status in statuses)
    echo("Sweep: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    for label, status in statuses:
        if status in ("failed", "blocked"):
            echo(f"  {status}: {label}")
    return 1 if counts.get("failed") else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ValueError, OSError, RuntimeError) as e:
        sys.exit(f"sweep: {e}")
