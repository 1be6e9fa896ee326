"""``python -m tools.gpu_check``: check the project on a GPU (or, without one, the CPU part).

Random OpenAI-format CLIP weights (full-size ViT-B/16 and ViT-L/14 on a GPU, toy-size on a CPU), a
PromptKD teacher and a synthetic Caltech101 tree are written to a folder; the two CAPT README commands run
there (shortened to one epoch); then every method runs a few training steps at each precision. Prints the
README results, a method x precision table (median step time, peak GPU memory, finite losses, agreement of
the logits with fp32) and the time of each stage. Exit status 0 when everything passed.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

from trainers.common.base import PRECISIONS

from . import report
from .commands import METHODS, README_COMMANDS, shrink_opts
from .readme import run_readme_commands
from .steps import AGREEMENT_SAMPLES, TOLERANCES, MethodRunner, RunResult
from .world import add_world_args, build_world, settle_world_args

# On a CPU, fp16 keeps fp32 weights and amp does not autocast (CPU autocast has no fp16), so both would repeat
# fp32; bf16 autocast is meaningful where a trainer accepts it.
CPU_PRECISIONS = ("fp32", "bf16")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tools.gpu_check", description=__doc__.splitlines()[0])
    add_world_args(p)
    p.add_argument("--out", default=None, help="keep everything in this folder (default: a temporary "
                                               "folder, removed unless something failed)")
    p.add_argument("--steps", type=int, default=None, help="timed training steps per method and precision "
                                                           "(default 5 on CUDA, 2 on CPU)")
    p.add_argument("--warmup", type=int, default=None,
                   help="untimed steps first (default 2 on CUDA, 1 on CPU)")
    p.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    p.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=None,
                   help=f"default: {' '.join(PRECISIONS)} on CUDA, {' '.join(CPU_PRECISIONS)} on CPU; fp32 "
                        f"always runs (the reference)")
    p.add_argument("--no-readme", action="store_true", help="skip the two CAPT README commands (CAPT's "
                                                             "steps need the first one and are skipped too)")
    return p


class StageClock:
    """Times named stages and prints each one as it ends (so a slow stage shows while the check runs)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.start = time.perf_counter()

    def run(self, name: str, fn, *args):
        start = time.perf_counter()
        value = fn(*args)
        self.seconds[name] = time.perf_counter() - start
        print(f"[{time.perf_counter() - self.start:7.1f} s] {name}: {self.seconds[name]:.1f} s", flush=True)
        return value


def describe(device: torch.device, size: str, precisions: list[str], args) -> str:
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    cuda = f", CUDA {torch.version.cuda}" if device.type == "cuda" else ""
    return (f"GPU check on {device} ({where}), torch {torch.__version__}{cuda}; {size}-size random weights; "
            f"precisions {' '.join(precisions)}; {args.warmup} warm-up + {args.steps} timed steps per run")


def run_check(args, device: torch.device, root: Path) -> tuple[int, str]:
    """Every stage of the check in ``root``; returns (exit status, report text)."""
    cpu = device.type == "cpu"
    precisions = ["fp32", *(p for p in (args.precisions or (CPU_PRECISIONS if cpu else PRECISIONS))
                            if p != "fp32")]
    print(describe(device, args.size, precisions, args), flush=True)
    clock = StageClock()
    world = clock.run(f"weights, teacher and dataset ({args.size})", build_world, root, args.size, device)
    extra = shrink_opts(world, cpu)
    commands = [] if args.no_readme else clock.run("CAPT README commands", run_readme_commands, world, extra)
    stage1_ok = bool(commands) and commands[0].status == "ok"
    results: list[RunResult] = []
    for name in args.methods:
        spec = METHODS[name]
        if spec.needs_stage1 and not stage1_ok:
            results += [RunResult(name, p, "skipped", "needs the README stage-1 run") for p in precisions]
            continue
        runner = MethodRunner(spec, world, device, extra, args.warmup, args.steps)
        results += clock.run(f"{name} x {len(precisions)} precisions", runner.run, precisions)
    failed = [r for r in [*commands, *results] if r.status == "FAIL"]
    text = "\n\n".join(filter(None, [
        report.command_table(commands) if commands else "",
        report.command_lines(README_COMMANDS, extra) if commands else "",
        report.method_table(results),
        f"Agreement: max over {AGREEMENT_SAMPLES} fixed random images and all classes of |softmax(logits) - "
        f"softmax(fp32 logits)|, same weights; tolerances {TOLERANCES}. Step time: median of the timed "
        "forward+backward+update steps on one training batch (data loading excluded). Peak MiB: peak GPU "
        "memory allocated while building, evaluating and training that run.",
        report.time_table(clock.seconds),
        *(f"failed: {r.label}; log: {r.log}" for r in failed),
        f"RESULT: {'FAIL' if failed else 'PASS'}",
    ]))
    return (1 if failed else 0), text


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.steps is not None and args.steps < 1) or (args.warmup is not None and args.warmup < 0):
        parser.error("--steps must be at least 1 and --warmup at least 0")
    device = settle_world_args(args)
    cpu = device.type == "cpu"
    args.steps = args.steps if args.steps is not None else (2 if cpu else 5)
    args.warmup = args.warmup if args.warmup is not None else (1 if cpu else 2)
    if cpu and args.size == "toy":
        torch.set_num_threads(1)  # the toy models are so small that more threads only add overhead
    if args.out and Path(args.out).exists() and any(Path(args.out).iterdir()):
        # finished runs in it would be resumed instead of checked
        raise SystemExit(f"--out {args.out}: the folder is not empty; give a new or empty folder")
    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="gpu_check_"))
    status, text = run_check(args, device, root)
    print(text)
    if args.out is None and status == 0:
        shutil.rmtree(root, ignore_errors=True)
    else:
        print(f"Check folder kept: {root}")
    return status


if __name__ == "__main__":
    sys.exit(main())
