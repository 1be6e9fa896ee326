"""Every method's training step and evaluation batch, timed against its floor in the same run.

``python -m tools.benchmarks`` builds the world of ``tools.gpu_check`` (random OpenAI-format CLIP weights,
toy or full size, a PromptKD teacher and a synthetic Caltech101 tree; for CAPT, the README stage-1 run),
then, for each method, the trainer of its published base-to-new command line. It times:

* step: ``forward_backward`` on one training batch of the config's size (device transfer, autocast, loss,
  backward, optimiser step, logged scalars; data loading excluded);
* eval: one evaluation batch as ``SimpleTrainer.test`` scores it (``model_inference``, the finite-logit
  check, the evaluator) in eval mode, after warm-up (class text features cached as in a real evaluation);

each interleaved with its floor (:mod:`tools.benchmarks.floors`: the CLIP passes the method cannot avoid at
that batch), ``--warmup`` untimed rounds then ``--steps`` timed ones. The table gives the median times, the
ratio measured / floor (the median of the per-round ratios: both halves of a round see the same machine
load), the target and, on CUDA, the peak memory of each. Run from the repository root::

    OMP_NUM_THREADS=1 python -m tools.benchmarks                      # CPU, toy-size weights
    python -m tools.benchmarks --device cuda --size full --prec fp16  # GPU, ViT-B/16 + ViT-L/14 sizes
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from tools.benchmarks.floors import FLOORS, capt_representatives
from tools.benchmarks.timing import interleaved_times, paired_ratios, synchronize
from tools.gpu_check.world import add_world_args, settle_world_args
from trainers.common.base import PRECISIONS

# Targets on measured / floor. Evaluation: floor / measured >= 0.95.
EVAL_TARGET = 1 / 0.95
STEP_TARGETS = {"CoOp": 1.1, "CoCoOp": 1.1, "PromptSRC": 1.1, "UCPCoOp": 1.1, "PromptKD": 1.15, "CAPT": 1.3}
STAGE1_COMMAND = "CAPT stage 1 (PromptKD)"


@dataclass
class Row:
    """One measured thing of one method against its floor (times in ms, memory in MiB)."""

    method: str
    kind: str  # "step" or "eval"
    batch: int
    measured_ms: float
    floor_ms: float
    ratio: float
    target: float
    measured_mib: float | None = None
    floor_mib: float | None = None
    note: str = ""

    @property
    def met(self) -> bool:
        return self.ratio <= self.target


def peak_mib(fn, device: torch.device) -> float | None:
    """Peak GPU memory allocated while ``fn`` runs once (None on the CPU)."""
    if device.type != "cuda":
        return None
    synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    synchronize(device)
    return torch.cuda.max_memory_allocated(device) / 2**20


def measure(method: str, kind: str, batch: int, measured, floor, args, device, target: float) -> Row:
    times = interleaved_times({"measured": measured, "floor": floor}, args.warmup, args.steps, device)
    ms = {k: statistics.median(v) * 1000 for k, v in times.items()}
    ratio = statistics.median(paired_ratios(times["measured"], times["floor"]))
    return Row(method, kind, batch, ms["measured"], ms["floor"], ratio, target,
               peak_mib(measured, device), peak_mib(floor, device))


def step_rows(name: str, trainer, args, device) -> Row:
    """The training step of ``trainer`` on its first batch against the method's step floor."""
    from tools.gpu_check.steps import repeated_step

    batch, step = repeated_step(trainer)
    image = trainer.parse_batch_train(batch)[0]
    extra = (capt_representatives(trainer, batch),) if name == "CAPT" else ()
    floor = FLOORS[name][0](trainer, image, *extra)
    row = measure(name, "step", len(image), step, floor, args, device, STEP_TARGETS[name])
    if extra:
        row.note = f"{extra[0]} representatives"
    return row


def eval_row(name: str, trainer, args, device) -> Row:
    """One evaluation batch of random images as ``SimpleTrainer.test`` scores it, against the eval floor."""
    from dassl.engine.finite import check_finite_outputs

    side = int(trainer.cfg.INPUT.SIZE[0])
    generator = torch.Generator().manual_seed(0)
    image = torch.randn(args.eval_batch, 3, side, side, generator=generator).to(device)
    label = torch.zeros(args.eval_batch, dtype=torch.long, device=device)
    trainer.set_model_mode("eval")
    trainer.evaluator.reset()
    floor_fn = FLOORS[name][1](trainer, image)

    @torch.no_grad()
    def evaluate():
        output = trainer.model_inference(image)
        check_finite_outputs(output, "test", 0, trainer.cfg)
        trainer.evaluator.process(output, label)

    @torch.no_grad()
    def floor():
        with trainer.autocast():
            floor_fn()

    row = measure(name, "eval", args.eval_batch, evaluate, floor, args, device, EVAL_TARGET)
    trainer.evaluator.reset()
    return row


def benchmark_method(name: str, world, extra: list[str], args, device) -> list[Row]:
    from tools.gpu_check.commands import METHODS
    from tools.gpu_check.steps import build_at_precision, quiet

    spec = METHODS[name]
    out_dir = world.runs_dir / "benchmarks" / name
    log = out_dir / "build.log"
    with quiet(log):
        trainer = build_at_precision(spec, world, args.prec, out_dir, extra)
    try:
        return [step_rows(name, trainer, args, device), eval_row(name, trainer, args, device)]
    finally:
        del trainer
        if device.type == "cuda":
            torch.cuda.empty_cache()


def format_rows(rows: list[Row]) -> str:
    from tools.gpu_check.report import format_table

    def mib(value):
        return "-" if value is None else f"{value:.0f}"

    header = ["method", "what", "batch", "measured ms", "floor ms", "ratio", "target", "met", "peak MiB",
              "floor peak MiB", "note"]
    body = [[r.method, r.kind, str(r.batch), f"{r.measured_ms:.2f}", f"{r.floor_ms:.2f}", f"{r.ratio:.3f}",
             f"<= {r.target:.3f}", "yes" if r.met else "NO", mib(r.measured_mib), mib(r.floor_mib), r.note]
            for r in rows]
    return format_table(header, body)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tools.benchmarks", description=__doc__.splitlines()[0])
    add_world_args(p)
    p.add_argument("--methods", nargs="+", choices=list(FLOORS), default=list(FLOORS))
    p.add_argument("--prec", choices=PRECISIONS, default="fp32",
                   help="the trainers' PREC (default fp32)")
    p.add_argument("--steps", type=int, default=20, help="timed rounds (medians reported)")
    p.add_argument("--warmup", type=int, default=5, help="untimed rounds first")
    p.add_argument("--eval-batch", type=int, default=32, help="evaluation batch size")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads (default: 1 for toy weights on the CPU, else torch's default)")
    p.add_argument("--out", default=None, help="keep the benchmark folder here (default: a temporary "
                                                "folder, removed at the end)")
    return p


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run(args, device: torch.device, root: Path) -> list[Row]:
    from tools.gpu_check.commands import shrink_opts
    from tools.gpu_check.readme import run_command
    from tools.gpu_check.world import build_world

    world = build_world(root, args.size, device)
    extra = shrink_opts(world, device.type == "cpu")
    rows: list[Row] = []
    for name in args.methods:
        if name == "CAPT":
            stage1 = run_command(STAGE1_COMMAND, world, extra)
            if stage1.status != "ok":
                raise RuntimeError(f"the CAPT stage-1 run failed ({stage1.note}); log: {stage1.log}")
        start = time.perf_counter()
        rows += benchmark_method(name, world, extra, args, device)
        print(f"{name}: {time.perf_counter() - start:.1f} s", flush=True)
    return rows


def main(argv=None) -> list[Row]:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 0 or args.eval_batch < 1:
        parser.error("--steps and --eval-batch must be at least 1, --warmup at least 0")
    device = settle_world_args(args)
    if args.threads or (device.type == "cpu" and args.size == "toy"):
        torch.set_num_threads(args.threads or 1)
    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="benchmarks_"))
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"Step and evaluation vs floor on {device} ({where}), torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; {args.size}-size random weights, PREC {args.prec}; "
          f"{args.warmup} warm-up + {args.steps} timed rounds, medians; load average {load_average()}",
          flush=True)
    try:
        rows = run(args, device, root)
    finally:
        if args.out is None:
            shutil.rmtree(root, ignore_errors=True)
    print(format_rows(rows))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"ratio = measured / floor (evaluation target: floor / measured >= 0.95). Peak MiB: GPU memory "
          f"allocated during one call (CUDA only; process max RSS on this run: {rss:.0f} MiB). "
          f"Load average at the end: {load_average()}")
    return rows


if __name__ == "__main__":
    main()
