"""The toy-world demo: build the toy world, run each method through ``train.py``, print base / new / H.

    python -m tools.demo [--root DATA] [--output output/toy_demo] [--dataset fashion_mnist_edges] [--seed 1]
                         [--protocol clean|published] [--force] [--only NAME ...] [--verbose]

The pipeline is a list of :class:`Stage` objects run in order, each a ``train.py`` command in its own
process with its own output folder (``<output>/<dataset>/<stage>``). A stage that finished (its
``finished.json``, see ``dassl.run_state``) is skipped, so an interrupted demo resumes where it stopped and
a finished one only prints the table; a stage killed part-way is resumed, never counted as done.

The terminal gets one line per stage (time, accuracy, log file) and the table; a stage's whole output stays
in its run folder (``log.txt``, and ``demo_console.txt`` with stderr too), and its tail is shown when it
fails (``--verbose``: all of it, live).
Besides ``summary.json`` the demo writes ``report.md`` (table, figures, every stage's command) and the
chart it links (``tools/demo_report.py``).
Methods are compared in :data:`ROWS` (base-class and new-class accuracy of the stages named there, and their
harmonic mean). Every stage runs under one model-selection protocol (``TEST.PROTOCOL``, default ``clean``:
each run deploys its last epoch and nothing is selected on test images; ``published`` keeps the configs'
selection, e.g. PromptKD's best epoch on the base test split).

All numbers come from the toy CLIPs pretrained on Fashion-MNIST: they show that the pipeline works, not
how the methods compare on real data. The default dataset is the edge-map copy of Fashion-MNIST, on which
zero-shot CLIP leaves room for prompt tuning (on the original images every method ends near zero-shot).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(REPO))

from dassl.atomic_io import write_json_atomic  # noqa: E402
from dassl.run_dir import RESULTS_FILE, WRONG_FILE  # noqa: E402  (no torch import)
from dassl.run_state import EXCEPTIONS_FILE, finished_state, is_finished  # noqa: E402  (no torch import)
from tools.demo_console import (  # noqa: E402
    CONSOLE_FILE,
    ProgressLine,
    display_path,
    format_duration,
    newest_log,
    read_tail,
)
from tools.demo_report import write_report  # noqa: E402
from tools.forked_train import launch_forked, start_server  # noqa: E402

# The toy datasets the demo's configs are made for (configs/datasets/<name>.yaml).
TOY_DATASETS = ("fashion_mnist", "fashion_mnist_edges", "fashion_mnist_inverted")
DEFAULT_DATASET = "fashion_mnist_edges"
PROTOCOLS = ("clean", "published")  # TEST.PROTOCOL of every stage (dassl/engine/selection.py)
DEFAULT_PROTOCOL = "clean"


@dataclass(frozen=True)
class Stage:
    """One ``train.py`` run of the demo.

    Attributes:
        name: unique id, also the output sub-folder (``<output>/<name>``).
        trainer: ``--trainer`` value.
        config: ``--config-file`` (relative to the repository).
        eval_only: add ``--eval-only`` (zero-shot, or testing a trained model given by ``model_dir``).
        model_dir: name of an earlier stage whose output folder is passed as ``--model-dir``.
        load_epoch: ``--load-epoch`` with ``model_dir`` (-1: the last epoch file; None: the best file).
        opts: trailing ``KEY VALUE`` overrides; ``{output}`` is replaced by the demo's output folder and
            ``{dataset}`` by the dataset's config name.
        label: what the stage is, in words, for its terminal line.
    """

    name: str
    trainer: str
    config: str
    eval_only: bool = False
    model_dir: str | None = None
    load_epoch: int | None = None
    opts: tuple[str, ...] = ()
    label: str = ""

    @property
    def title(self) -> str:
        return f"{self.label} ({self.name})" if self.label else self.name

    def output_dir(self, output: Path) -> Path:
        return output / self.name

    def done(self, output: Path) -> bool:
        """Finished and current: ``finished.json``, no failure since, the weights it loaded unchanged."""
        return is_finished(str(self.output_dir(output)))

    def argv(self, root: str, output: Path, seed: int, dataset: str = DEFAULT_DATASET,
             protocol: str = DEFAULT_PROTOCOL) -> list[str]:
        args = [
            "train.py",
            "--root",
            root,
            "--seed",
            str(seed),
            "--trainer",
            self.trainer,
            "--dataset-config-file",
            f"configs/datasets/{dataset}.yaml",
            "--config-file",
            self.config,
            "--output-dir",
            str(self.output_dir(output)),
        ]
        if self.model_dir:
            args += ["--model-dir", str(output / self.model_dir)]
            if self.load_epoch is not None:
                args += ["--load-epoch", str(self.load_epoch)]
        if self.eval_only:
            args.append("--eval-only")
        args += ["TEST.PROTOCOL", protocol]
        return args + [opt.format(output=output, dataset=dataset) for opt in self.opts]


@dataclass(frozen=True)
class Row:
    """A line of the final table: the stages giving base-class and new-class test accuracy."""

    method: str
    base: str
    new: str
    note: str = ""


ZS_CONFIG = "configs/trainers/ZeroShotCLIP/toy_vit_s.yaml"

STAGES: list[Stage] = [
    Stage("zsclip/base", "ZeroshotCLIP", ZS_CONFIG, eval_only=True,
          opts=("DATASET.SUBSAMPLE_CLASSES", "base"), label="Zero-shot CLIP, base classes"),
    Stage("zsclip/new", "ZeroshotCLIP", ZS_CONFIG, eval_only=True,
          opts=("DATASET.SUBSAMPLE_CLASSES", "new"), label="Zero-shot CLIP, new classes"),
]

# CAPT pipeline: PromptSRC teacher on ToyViT-L -> PromptKD student on ToyViT-S (stage 1, builds the
# Confusion Bank) -> CAPT (stage 2, adapters + MGDE on the frozen stage 1). Base = split val (base-class
# test images), new = split test (new-class test images), as in the PromptKD family.
TEACHER = "{output}/promptsrc_teacher"  # TRAINER.PROMPTKD.TEACHER_CKPT: the run folder (last epoch)
PKD_CONFIG = "configs/trainers/PromptKD/toy_vit_s.yaml"
CAPT_CONFIG = "configs/trainers/CAPT/toy_vit_s.yaml"
PKD_OPTS = ("DATASET.NUM_SHOTS", "0", "TRAINER.MODAL", "base2novel", "TRAINER.PROMPTKD.TEMPERATURE", "1.0",
            "TRAINER.PROMPTKD.KD_WEIGHT", "1000.0", "TRAINER.PROMPTKD.TEACHER_CKPT", TEACHER)
CAPT_OPTS = ("DATASET.NUM_SHOTS", "16", "SPLE.BACK_CKPT_PATH", "{output}/promptkd/base",
             "TRAINER.MODAL", "base2novel", "TRAINER.PROMPTKD.TEACHER_CKPT", TEACHER,
             "CAPT.SEM.DESC_FILE", "datasets/descriptions/{dataset}.json")
STAGES += [
    Stage("promptsrc_teacher", "PromptSRC", "configs/trainers/PromptSRC/toy_vit_l.yaml",
          opts=("DATASET.NUM_SHOTS", "16", "DATASET.SUBSAMPLE_CLASSES", "base"),
          label="PromptSRC teacher on ToyViT-L, trained on base"),
    Stage("promptkd/base", "PromptKD", PKD_CONFIG, opts=(*PKD_OPTS, "TEST.SPLIT", "val"),
          label="PromptKD student, distilled on base"),
    Stage("promptkd/new", "PromptKD", PKD_CONFIG, eval_only=True, model_dir="promptkd/base",
          opts=(*PKD_OPTS, "TEST.SPLIT", "test"), label="PromptKD student, new classes"),
    Stage("capt/base", "CAPT", CAPT_CONFIG,
          opts=(*CAPT_OPTS, "DATASET.SUBSAMPLE_CLASSES", "base", "TEST.SPLIT", "val"),
          label="CAPT on the frozen student, trained on base"),
    Stage("capt/new", "CAPT", CAPT_CONFIG, eval_only=True, model_dir="capt/base",
          opts=(*CAPT_OPTS, "DATASET.SUBSAMPLE_CLASSES", "new", "TEST.SPLIT", "test"),
          label="CAPT, new classes"),
]

# CaPT (class-adaptive prompt tuning) as a plugin on CoOp: both with the CaPT-protocol recipe (16 shots,
# batch 4, 10 epochs), so the two rows differ only by the plugin. Base = base-class test images, new =
# new-class test images (CoOp wiring, SUBSAMPLE_CLASSES).
COOP_CONFIG = "configs/trainers/CoOp/toy_vit_s_ep10_ctx_batch4.yaml"
UCP_CONFIG = "configs/trainers/UCPCoOp/toy_vit_s.yaml"
SHOTS_16 = ("DATASET.NUM_SHOTS", "16")
STAGES += [
    Stage("coop/base", "CoOp", COOP_CONFIG, opts=(*SHOTS_16, "DATASET.SUBSAMPLE_CLASSES", "base"),
          label="CoOp, trained on base"),
    Stage("coop/new", "CoOp", COOP_CONFIG, eval_only=True, model_dir="coop/base", load_epoch=-1,
          opts=(*SHOTS_16, "DATASET.SUBSAMPLE_CLASSES", "new"), label="CoOp, new classes"),
    Stage("coop_capt/base", "UCPCoOp", UCP_CONFIG, opts=(*SHOTS_16, "DATASET.SUBSAMPLE_CLASSES", "base"),
          label="CoOp + CaPT, trained on base"),
    Stage("coop_capt/new", "UCPCoOp", UCP_CONFIG, eval_only=True, model_dir="coop_capt/base", load_epoch=-1,
          opts=(*SHOTS_16, "DATASET.SUBSAMPLE_CLASSES", "new"), label="CoOp + CaPT, new classes"),
]

ROWS: list[Row] = [
    Row("Zero-shot CLIP (ToyViT-S)", "zsclip/base", "zsclip/new", "no training"),
    Row("PromptSRC teacher (ToyViT-L)", "promptsrc_teacher", "-", "16 shots; base only; PromptKD's teacher"),
    Row("PromptKD (ToyViT-S)", "promptkd/base", "promptkd/new", "stage 1; builds the Confusion Bank"),
    Row("CAPT (ToyViT-S)", "capt/base", "capt/new", "stage 2 on frozen PromptKD"),
    Row("CoOp (ToyViT-S)", "coop/base", "coop/new", "16 shots, base classes"),
    Row("CoOp + CaPT (ToyViT-S)", "coop_capt/base", "coop_capt/new", "class-adaptive plugin (UCPCoOp)"),
]


def harmonic_mean(base: float, new: float) -> float:
    return 0.0 if base + new == 0 else 2 * base * new / (base + new)


def read_accuracy(output: Path, stage: str) -> float | None:
    path = output / stage / RESULTS_FILE
    if not path.is_file():
        return None
    with open(path) as f:
        results = json.load(f)
    if "accuracy" not in results:
        raise KeyError(f"{path} has no 'accuracy' entry")
    return float(results["accuracy"])


def table(output: Path, rows: list[Row]) -> tuple[str, list[dict]]:
    """The base / new / H table as text, and as records."""
    records = []
    for row in rows:
        base, new = read_accuracy(output, row.base), read_accuracy(output, row.new)
        h = harmonic_mean(base, new) if base is not None and new is not None else None
        records.append({"method": row.method, "base": base, "new": new, "H": h, "note": row.note})
    return format_table(records), records


def format_table(records: list[dict]) -> str:
    width = max([len("Method")] + [len(r["method"]) for r in records])

    def cell(value):
        return f"{value:6.2f}" if value is not None else "     -"

    lines = [f"{'Method':<{width}}    Base     New       H   Note", "-" * (width + 36)]
    for r in records:
        lines.append(
            f"{r['method']:<{width}}  {cell(r['base'])}  {cell(r['new'])}  {cell(r['H'])}   {r['note']}"
        )
    return "\n".join(lines)


class StageFailed(RuntimeError):
    """A stage exited with an error, or without finishing; its log's tail is already on the terminal."""


def row_split(stage: str) -> str:
    """``base`` or ``new``: which column of :data:`ROWS` the stage's accuracy fills (``acc`` if none)."""
    for row in ROWS:
        if stage in (row.base, row.new):
            return "base" if stage == row.base else "new"
    return "acc"


Launcher = Callable[[list[str], "Path | None", Path, Callable[[], None]], int]


@dataclass
class DemoRun:
    """One demo run. ``launch`` runs a stage's ``train.py`` argv (see
    :func:`tools.forked_train.launch_forked`, whose signature a replacement keeps)."""

    root: str = "DATA"
    output: Path = Path("output/toy_demo")
    dataset: str = DEFAULT_DATASET
    seed: int = 1
    force: bool = False
    only: tuple[str, ...] = ()
    protocol: str = DEFAULT_PROTOCOL
    verbose: bool = False
    launch: Launcher = launch_forked
    timings: dict = field(default_factory=dict)
    figures: list = field(default_factory=list)  # (caption, PNG) of the confusion report, for report.md

    def selected(self) -> list[Stage]:
        if not self.only:
            return list(STAGES)
        unknown = sorted(set(self.only) - {s.name for s in STAGES})
        if unknown:
            raise ValueError(f"unknown stage(s) {unknown}; stages: {[s.name for s in STAGES]}")
        return [s for s in STAGES if s.name in self.only]

    def argv(self, stage: Stage) -> list[str]:
        return stage.argv(self.root, self.output, self.seed, self.dataset, self.protocol)

    def _accuracy(self, stage: Stage) -> str:
        accuracy = read_accuracy(self.output, stage.name)
        return "" if accuracy is None else f"  {row_split(stage.name)} {accuracy:.2f}"

    def run_stage(self, stage: Stage, index: int = 1, total: int = 1) -> None:
        """Run ``stage`` unless finished; print its one line, or its log's tail and raise StageFailed."""
        prefix = f"[{index}/{total}] {stage.title}"
        folder = stage.output_dir(self.output)
        if stage.done(self.output) and not self.force:
            print(f"{prefix}  done earlier{self._accuracy(stage)}  -> {display_path(newest_log(folder))}")
            return
        argv = self.argv(stage)
        console = None if self.verbose else folder / CONSOLE_FILE
        if self.verbose:
            print(f"== [{stage.name}] python {' '.join(argv)}", flush=True)
        progress = ProgressLine(prefix, folder / CONSOLE_FILE, sys.stdout)
        start = time.time()
        try:
            code = self.launch(argv, console, REPO, progress if console else (lambda: None))
        finally:
            progress.clear()
        seconds = time.time() - start
        self.timings[stage.name] = round(seconds, 1)
        log = newest_log(folder)
        finished, why = finished_state(str(folder)) if code == 0 else (False, f"exit code {code}")
        if not finished:
            self._show_failure(f"{prefix}  FAILED after {format_duration(seconds)} ({why})", console, log)
            raise StageFailed(f"stage {stage.name} failed ({why}); see {log}")
        print(f"{prefix}  {format_duration(seconds)}{self._accuracy(stage)}  -> {display_path(log)}",
              flush=True)

    @staticmethod
    def _show_failure(headline: str, console: Path | None, log: Path) -> None:
        print(headline)
        if console is not None and console.is_file():
            tail = read_tail(console)
            print(f"---- last {len(tail)} lines of {display_path(console)} (stdout and stderr) ----")
            print("\n".join(tail))
            print("----")
        files = [p for p in (log, log.parent / EXCEPTIONS_FILE) if p.is_file()]
        print("full log: " + (", ".join(display_path(p) for p in files) or f"none ({log} was not written)"),
              flush=True)

    def run(self) -> list[dict]:
        from tools.toy_world.build import build

        if self.dataset not in TOY_DATASETS:
            raise ValueError(f"dataset {self.dataset!r} is not a toy dataset; expected one of {TOY_DATASETS}")
        self.root = os.path.abspath(self.root)
        self.output = (self.output / self.dataset).absolute()
        start = time.time()
        if self.launch is launch_forked:
            start_server()  # its imports overlap the toy-world check
        build(self.root)
        self.timings["toy_world"] = round(time.time() - start, 1)
        stages = self.selected()
        for index, stage in enumerate(stages, 1):
            self.run_stage(stage, index, len(stages))
        _, records = table(self.output, ROWS)
        confusion = self.confusion_lines(records)  # also notes the resolved rate in the CAPT row
        text = format_table(records)
        print(
            f"\nToy world ({self.dataset}, tiny CLIPs pretrained in-repo, TEST.PROTOCOL {self.protocol}): "
            "test accuracy (%) on base and new "
            "classes, H = harmonic mean.\nToy numbers: they show the pipeline works, not how methods rank "
            "with real CLIP weights.\n"
        )
        print(text)
        if confusion:
            print("\nConfusion (base-class test set, frozen backbone -> CAPT):\n" + "\n".join(confusion))
        summary = {"rows": records, "timings_s": self.timings, "seed": self.seed, "dataset": self.dataset,
                   "protocol": self.protocol}
        write_json_atomic(summary, str(self.output / "summary.json"), indent=2)
        report = self.write_report(records)
        print(f"\nTotal {time.time() - start:.0f}s; table saved to "
              f"{display_path(self.output / 'summary.json')}; report with chart and commands: "
              f"{display_path(report)}")
        return records

    def write_report(self, records: list[dict]) -> Path:
        """``report.md`` and its chart; each row's commands are its stages' argv as this run gives them."""
        stages = {s.name: s for s in STAGES}
        commands = [[(name, self.argv(stages[name])) for name in (row.base, row.new) if name in stages]
                    for row in ROWS]
        heading = f"Toy-world demo: {self.dataset}, seed {self.seed}"
        return write_report(self.output, heading, self.protocol, records, commands, self.figures)

    def confusion_lines(self, records: list[dict]) -> list[str]:
        """Resolved rate and heat-maps of CAPT vs the stage-1 backbone it froze (noted in the CAPT row)."""
        from tools.confusion.demo_steps import BACKBONE_WRONG, confusion_report

        stage1, stage2 = self.output / "promptkd/base", self.output / "capt/base"
        if not ((stage2 / BACKBONE_WRONG).is_file() and (stage2 / WRONG_FILE).is_file()):
            return []
        # the Confusion Bank's own table is printed by its tool; the lines returned here say enough
        with contextlib.nullcontext() if self.verbose else contextlib.redirect_stdout(io.StringIO()):
            lines, result = confusion_report(stage1, stage2)
        captions = {"before": "Base-class errors of the frozen stage-1 backbone (before CAPT)",
                    "after": "Base-class errors of CAPT (after)"}
        self.figures = [(captions.get(Path(name).stem.split("_")[-1], name), stage2 / name)
                        for name in result.get("heatmaps", [])]
        self.figures.append(("Confusion Bank of the stage-1 run", stage1 / "confusion_bank.png"))
        rate = result.get("resolved_rate")
        for record in records:
            if record["method"].startswith("CAPT") and rate is not None:
                record["resolved_rate"] = rate
                record["note"] += f"; resolved {rate:.1f}% of its frozen backbone's base errors"
        return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="DATA", help="data root (default DATA)")
    parser.add_argument("--output", default="output/toy_demo", help="stage outputs go to <output>/<dataset>/")
    parser.add_argument("--dataset", default=DEFAULT_DATASET, choices=TOY_DATASETS,
                        help=f"toy dataset (configs/datasets/<name>.yaml; default {DEFAULT_DATASET})")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--protocol", default=DEFAULT_PROTOCOL, choices=PROTOCOLS,
                        help="TEST.PROTOCOL of every stage (default clean: nothing selected on test images)")
    parser.add_argument("--force", action="store_true", help="re-run stages that already have results")
    parser.add_argument("--only", nargs="+", default=(), metavar="STAGE", help="run only these stages")
    parser.add_argument("--verbose", action="store_true",
                        help="show every stage's whole output (config, system report, per-batch lines) live")
    args = parser.parse_args(argv)
    try:
        DemoRun(args.root, Path(args.output), args.dataset, args.seed, args.force, tuple(args.only),
                args.protocol, args.verbose).run()
    except StageFailed as e:
        raise SystemExit(f"demo stopped: {e}") from None


if __name__ == "__main__":
    main()
