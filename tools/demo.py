"""The toy-world demo: build the toy world, run each method through ``train.py``, print base / new / H.

    python -m tools.demo [--root DATA] [--output output/toy_demo] [--dataset fashion_mnist_edges] [--seed 1]
                         [--protocol clean|published] [--force] [--only NAME ...]

The pipeline is a list of :class:`Stage` objects run in order, each a ``train.py`` command in its own
process with its own output folder (``<output>/<dataset>/<stage>``). A stage that finished (its
``finished.json``, see ``dassl.run_state``) is skipped, so an interrupted demo resumes where it stopped and
a finished one only prints the table; a stage killed part-way is resumed, never counted as done.
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
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(REPO))

from dassl.run_state import finished_state  # noqa: E402  (no torch import)

# The toy datasets the demo's configs are made for (configs/datasets/<name>.yaml).
TOY_DATASETS = ("fashion_mnist", "fashion_mnist_edges", "fashion_mnist_inverted")
DEFAULT_DATASET = "fashion_mnist_edges"
PROTOCOLS = ("clean", "published")  # TEST.PROTOCOL of every stage (dassl/engine/selection.py)
DEFAULT_PROTOCOL = "clean"
RESULTS_FILE = "results.json"


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
    """

    name: str
    trainer: str
    config: str
    eval_only: bool = False
    model_dir: str | None = None
    load_epoch: int | None = None
    opts: tuple[str, ...] = ()

    def output_dir(self, output: Path) -> Path:
        return output / self.name

    def done(self, output: Path) -> bool:
        """Finished and current: ``finished.json``, no failure since, the weights it loaded unchanged."""
        return finished_state(str(self.output_dir(output)))[0]

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
    Stage(
        "zsclip/base", "ZeroshotCLIP", ZS_CONFIG, eval_only=True, opts=("DATASET.SUBSAMPLE_CLASSES", "base")
    ),
    Stage("zsclip/new", "ZeroshotCLIP", ZS_CONFIG, eval_only=True, opts=("DATASET.SUBSAMPLE_CLASSES", "new")),
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
          opts=("DATASET.NUM_SHOTS", "16", "DATASET.SUBSAMPLE_CLASSES", "base")),
    Stage("promptkd/base", "PromptKD", PKD_CONFIG, opts=(*PKD_OPTS, "TEST.SPLIT", "val")),
    Stage("promptkd/new", "PromptKD", PKD_CONFIG, eval_only=True, model_dir="promptkd/base",
          opts=(*PKD_OPTS, "TEST.SPLIT", "test")),
    Stage("capt/base", "CAPT", CAPT_CONFIG,
          opts=(*CAPT_OPTS, "DATASET.SUBSAMPLE_CLASSES", "base", "TEST.SPLIT", "val")),
    Stage("capt/new", "CAPT", CAPT_CONFIG, eval_only=True, model_dir="capt/base",
          opts=(*CAPT_OPTS, "DATASET.SUBSAMPLE_CLASSES", "new", "TEST.SPLIT", "test")),
]

# CaPT (class-adaptive prompt tuning) as a plugin on CoOp: both with the CaPT-protocol recipe (16 shots,
# batch 4, 10 epochs), so the two rows differ only by the plugin. Base = base-class test images, new =
# new-class test images (CoOp wiring, SUBSAMPLE_CLASSES).
COOP_CONFIG = "configs/trainers/CoOp/toy_vit_s_ep10_ctx_batch4.yaml"
UCP_CONFIG = "configs/trainers/UCPCoOp/toy_vit_s.yaml"
SHOTS_16 = ("DATASET.NUM_SHOTS", "16")
STAGES += [
    Stage("coop/base", "CoOp", COOP_CONFIG, opts=(*SHOTS_16, "DATASET.SUBSAMPLE_CLASSES", "base")),
    Stage("coop/new", "CoOp", COOP_CONFIG, eval_only=True, model_dir="coop/base", load_epoch=-1,
          opts=(*SHOTS_16, "DATASET.SUBSAMPLE_CLASSES", "new")),
    Stage("coop_capt/base", "UCPCoOp", UCP_CONFIG, opts=(*SHOTS_16, "DATASET.SUBSAMPLE_CLASSES", "base")),
    Stage("coop_capt/new", "UCPCoOp", UCP_CONFIG, eval_only=True, model_dir="coop_capt/base", load_epoch=-1,
          opts=(*SHOTS_16, "DATASET.SUBSAMPLE_CLASSES", "new")),
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


@dataclass
class DemoRun:
    root: str = "DATA"
    output: Path = Path("output/toy_demo")
    dataset: str = DEFAULT_DATASET
    seed: int = 1
    force: bool = False
    only: tuple[str, ...] = ()
    protocol: str = DEFAULT_PROTOCOL
    timings: dict = field(default_factory=dict)

    def selected(self) -> list[Stage]:
        if not self.only:
            return list(STAGES)
        unknown = sorted(set(self.only) - {s.name for s in STAGES})
        if unknown:
            raise ValueError(f"unknown stage(s) {unknown}; stages: {[s.name for s in STAGES]}")
        return [s for s in STAGES if s.name in self.only]

    def run_stage(self, stage: Stage) -> None:
        if stage.done(self.output) and not self.force:
            print(f"== [{stage.name}] done earlier ({stage.output_dir(self.output) / 'finished.json'})")
            return
        argv = stage.argv(self.root, self.output, self.seed, self.dataset, self.protocol)
        print(f"== [{stage.name}] python {' '.join(argv)}", flush=True)
        start = time.time()
        result = subprocess.run([sys.executable, *argv], cwd=REPO, env=dict(os.environ, PYTHONUNBUFFERED="1"))
        self.timings[stage.name] = round(time.time() - start, 1)
        if result.returncode != 0:
            log = stage.output_dir(self.output) / "log.txt"
            raise RuntimeError(f"stage {stage.name} failed (exit code {result.returncode}); see {log}")
        finished, why = finished_state(str(stage.output_dir(self.output)))
        if not finished:
            raise RuntimeError(f"stage {stage.name} exited 0 but is not finished: {why}")
        print(f"== [{stage.name}] finished in {self.timings[stage.name]:.0f}s", flush=True)

    def run(self) -> list[dict]:
        from tools.toy_world.build import build

        if self.dataset not in TOY_DATASETS:
            raise ValueError(f"dataset {self.dataset!r} is not a toy dataset; expected one of {TOY_DATASETS}")
        self.root = os.path.abspath(self.root)
        self.output = (self.output / self.dataset).absolute()
        start = time.time()
        build(self.root)
        self.timings["toy_world"] = round(time.time() - start, 1)
        for stage in self.selected():
            self.run_stage(stage)
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
        self.output.mkdir(parents=True, exist_ok=True)
        tmp = self.output / f".summary.json.tmp-{os.getpid()}"
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
        os.replace(tmp, self.output / "summary.json")
        print(f"\nTotal {time.time() - start:.0f}s; table saved to {self.output / 'summary.json'}")
        return records


    def confusion_lines(self, records: list[dict]) -> list[str]:
        """Resolved rate and heat-maps of CAPT vs the stage-1 backbone it froze (noted in the CAPT row)."""
        from tools.confusion.demo_steps import BACKBONE_WRONG, confusion_report

        stage1, stage2 = self.output / "promptkd/base", self.output / "capt/base"
        if not ((stage2 / BACKBONE_WRONG).is_file() and (stage2 / "wrong_predictions.json").is_file()):
            return []
        lines, result = confusion_report(stage1, stage2)
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
    args = parser.parse_args(argv)
    DemoRun(args.root, Path(args.output), args.dataset, args.seed, args.force, tuple(args.only),
            args.protocol).run()


if __name__ == "__main__":
    main()
