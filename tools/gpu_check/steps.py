"""Run one method at each precision: build its trainer, compare its logits with fp32, time training steps.

For every precision the trainer is built in-process from its command line (``train.setup_cfg`` +
``build_trainer``, as ``train.main`` does), with the fp32 build's weights copied in, so that the logits of
the same fixed inputs can be compared with fp32's. Then ``forward_backward`` runs on one training batch:
``warmup`` untimed steps, ``steps`` timed ones (median reported). The trainer's own output goes to
``<run dir>/check.log``.
"""

from __future__ import annotations

import contextlib
import gc
import math
import statistics
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import torch

from tools.benchmarks.timing import timed_calls

from .commands import MethodSpec, precision_key
from .world import World

# Agreement with fp32: max over samples and classes of |softmax(z_prec) - softmax(z_fp32)|, the change in
# predicted class probabilities. CLIP logits are 100-scaled cosines, so a cosine error of 1e-3 already moves
# a logit by 0.1; probabilities weigh that by how much it matters to the prediction. bf16 keeps 8 bits of
# mantissa, so its logits at scale 100 move by up to ~0.4 (measured: 0.38 on the toy models, max |dp| up to
# 0.045; full-size random ViT-B/16: 0.012); fp16 keeps 11 bits (full-size ViT-B/16: 0.004). The tolerances
# leave about twice that room; a precision bug (overflow, a lost cast, weights not loaded) gives far more.
TOLERANCES = {"fp16": 0.03, "amp": 0.03, "bf16": 0.1}
AGREEMENT_SAMPLES = 16


@dataclass
class RunResult:
    """One method at one precision. ``status``: ok, FAIL or skipped; ``note`` says why."""

    method: str
    precision: str
    status: str = "ok"
    note: str = ""
    step_ms: float | None = None
    peak_mib: float | None = None
    losses: list[float] = field(default_factory=list)
    agreement: float | None = None
    seconds: float = 0.0
    log: str = ""

    @property
    def label(self) -> str:
        return f"{self.method} {self.precision}"

    @property
    def tolerance(self) -> float | None:
        return TOLERANCES.get(self.precision)

    @property
    def loss_finite(self) -> bool | None:
        return all(math.isfinite(x) for x in self.losses) if self.losses else None

    def fail(self, note: str) -> None:
        self.status = "FAIL"
        self.note = f"{self.note}; {note}" if self.note else note


class PrecisionNotSupported(Exception):
    """The trainer rejected ``PREC`` (its check names the key)."""


@contextlib.contextmanager
def quiet(log_path: Path):
    """Send everything printed (the trainer's log, progress bars, the traceback of a failure) to
    ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a", buffering=1) as f, contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
        try:
            yield
        except BaseException:
            traceback.print_exc(file=f)
            raise


def build_trainer_for(argv: list[str]):
    """The trainer of a train.py command line, built as ``train.main`` builds it (seeded, not trained)."""
    import train
    from dassl.engine import build_trainer
    from dassl.utils import set_random_seed

    cfg = train.setup_cfg(train.parse_args(argv))
    set_random_seed(cfg.SEED)
    return build_trainer(cfg)


def build_at_precision(spec: MethodSpec, world: World, precision: str, out_dir: Path, extra: list[str]):
    key = precision_key(spec.trainer)
    try:
        return build_trainer_for(spec.argv(world, out_dir, [*extra, key, precision]))
    except ValueError as err:
        if "PREC" in str(err) and repr(precision) in str(err):
            raise PrecisionNotSupported(str(err)) from err
        raise


def fixed_images(world: World, device: torch.device) -> torch.Tensor:
    """The inputs every precision is compared on: seeded, roughly CLIP-normalised random images."""
    generator = torch.Generator().manual_seed(0)
    side = world.input_size
    return torch.randn(AGREEMENT_SAMPLES, 3, side, side, generator=generator).to(device)


@torch.no_grad()
def eval_logits(trainer, images: torch.Tensor) -> torch.Tensor:
    trainer.set_model_mode("eval")
    return trainer.model_inference(images).float()


def probability_gap(reference: torch.Tensor, logits: torch.Tensor) -> float:
    """Max |softmax difference| over samples and classes; inf when a logit is not finite."""
    if not torch.isfinite(logits).all():
        return math.inf
    return (logits.softmax(dim=-1) - reference.softmax(dim=-1)).abs().max().item()


def repeated_step(trainer):
    """``(batch, step)``: the first training batch and a call running one ``forward_backward`` on it (train
    mode; no hooks run, so the LR schedule never steps); ``step()`` returns the step's summary."""
    trainer.set_model_mode("train")
    trainer.epoch, trainer.max_epoch, trainer.num_batches = 0, trainer.cfg.OPTIM.MAX_EPOCH, 10**9
    batch = next(iter(trainer.train_loader_x))
    counter = iter(range(10**9))

    def step() -> dict:
        trainer.batch_idx = next(counter)
        return trainer.forward_backward(batch)

    return batch, step


def train_steps(trainer, warmup: int, steps: int) -> tuple[list[float], list[float]]:
    """Step times (s) of ``steps`` timed ``forward_backward`` calls after ``warmup`` untimed ones, on the
    first training batch, and every step's loss."""
    _, run_step = repeated_step(trainer)

    def step() -> float:
        return float(run_step()["loss"])

    _, warm_losses = timed_calls(step, warmup, trainer.device)
    times, losses = timed_calls(step, steps, trainer.device)
    return times, warm_losses + losses


def release(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


class MethodRunner:
    """Runs one method over the precisions, fp32 first (its weights and logits are the reference)."""

    def __init__(self, spec: MethodSpec, world: World, device: torch.device, extra: list[str],
                 warmup: int, steps: int):
        self.spec, self.world, self.device, self.extra = spec, world, device, extra
        self.warmup, self.steps = warmup, steps
        self.reference: tuple[dict, torch.Tensor] | None = None
        self.images = fixed_images(world, device)

    def run(self, precisions: list[str]) -> list[RunResult]:
        ordered = sorted(precisions, key=lambda p: p != "fp32")
        return [self.run_one(p) for p in ordered]

    def run_one(self, precision: str) -> RunResult:
        result = RunResult(self.spec.name, precision)
        out_dir = self.world.runs_dir / self.spec.name / precision
        result.log = str(out_dir / "check.log")
        start = time.perf_counter()
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        try:
            with quiet(Path(result.log)):
                self._check(precision, out_dir, result)
        except PrecisionNotSupported:
            result.status, result.note = "skipped", "not supported"
        except FloatingPointError as err:
            result.losses.append(math.nan)
            result.fail(f"non-finite loss ({err})")
        except Exception as err:  # noqa: BLE001 - any failure is reported in the table, with its log
            result.fail(f"{type(err).__name__}: {err}".splitlines()[0][:160])
        finally:
            if self.device.type == "cuda" and result.status != "skipped":
                result.peak_mib = torch.cuda.max_memory_allocated(self.device) / 2**20
            release(self.device)
        result.seconds = time.perf_counter() - start
        return result

    def _check(self, precision: str, out_dir: Path, result: RunResult) -> None:
        trainer = build_at_precision(self.spec, self.world, precision, out_dir, self.extra)
        try:
            if precision == "fp32":
                state = {k: v.detach().to("cpu", copy=True) for k, v in trainer.model.state_dict().items()}
                self.reference = (state, eval_logits(trainer, self.images))
            elif self.reference is None:
                result.note = "no fp32 reference"
            else:
                trainer.model.load_state_dict(self.reference[0])
                result.agreement = probability_gap(self.reference[1], eval_logits(trainer, self.images))
                if not result.agreement <= result.tolerance:
                    result.fail(f"logits disagree with fp32 (max |dp| {result.agreement:.3g} > "
                                f"{result.tolerance})")
            times, result.losses = train_steps(trainer, self.warmup, self.steps)
            result.step_ms = statistics.median(times) * 1000
            if not result.loss_finite:
                result.fail("non-finite loss")
        finally:
            del trainer
