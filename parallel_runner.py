"""CaPT's batch runner, ``python parallel_runner.py --cfg <experiment>``, on top of ``tools.sweep``.

The CaPT repository runs one experiment (a trainer and its config) over its 11 datasets and seeds 1-3:
base-class training with 16 shots, then the new-class test of the last epoch. Here each experiment name
becomes a sweep spec (written to ``<output>/parallel_runner/<experiment>.json``) and is run by
``tools.sweep``, whose flags follow: ``--gpus 0 1`` (one run per GPU), ``--jobs``, ``--datasets``,
``--seeds``, ``--root``, ``--dry-run``, ``--backend slurm``. Output folders are those of
``scripts/capt_ucp/*.sh``. Unlike upstream, finished runs are kept and skipped rather than the output root
being deleted, and a failed run stops only its own dataset and seed; ``python -m tools.parse_results
<output>`` prints the table (upstream writes CSV files). See docs/sweeps.md.
"""

from __future__ import annotations

import argparse
import os
import sys

from dassl.utils import write_json_atomic
from tools import sweep

# CaPT's dataset order.
DATASETS = ("dtd", "caltech101", "eurosat", "ucf101", "oxford_flowers", "oxford_pets", "stanford_cars",
            "fgvc_aircraft", "food101", "sun397", "imagenet")
SEEDS = (1, 2, 3)
SHOTS = 16
# experiment name -> (trainer, config stem under configs/trainers/<trainer>/)
EXPERIMENTS = {
    "zsclip": ("ZeroShotCLIP", "vit_b16"),
    "coop": ("CoOp", "vit_b16_ep10_ctx_batch4"),
    "kgcoop": ("KgCoOp", "vit_b16_ep10_ctx_batch4"),
    "prograd": ("ProGrad", "vit_b16_ep10_ctx_batch4"),
    "dapt": ("DAPT", "vit_b16_ep10_batch4"),
    "kgcoop_dept": ("KgCoOpDePT", "vit_b16_ep10_ctx_batch4"),
    "coop_capt": ("UCPCoOp", "vit_b16_ep10_ctx_batch4"),
    "kgcoop_capt": ("UCPKgCoOp", "vit_b16_ep10_ctx_batch4"),
    "prograd_capt": ("UCPProGrad", "vit_b16_ep10_ctx_batch4"),
    "dapt_capt": ("UCPDAPT", "vit_b16_ep10_batch4"),
    "kgcoop_dept_capt": ("UCPKgCoOpDePT", "vit_b16_ep10_ctx_batch4"),
}
# Trainers that read the class prototypes of scripts/dapt/gen_prototype.sh (written by a DAPT pass first).
NEEDS_PROTOTYPES = {"DAPT", "UCPDAPT"}
PROTOTYPE_CFG = "vit_b16_ep10_batch4"


def experiment_spec(name: str, output: str = "output", root: str = "DATA") -> dict:
    """The sweep spec of experiment ``name``: [prototype pass,] base training (or zero-shot base test), new
    test."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown --cfg {name!r}; known experiments: {', '.join(EXPERIMENTS)}")
    trainer, cfg = EXPERIMENTS[name]
    config = f"configs/trainers/{trainer}/{cfg}.yaml"
    run = f"{trainer}/{{dataset}}/shots{SHOTS}/{cfg}/seed{{seed}}"
    base = {"name": "base", "trainer": trainer, "config": config, "output_dir": f"{output}/train_base/{run}",
            "opts": {"DATASET.NUM_SHOTS": SHOTS, "DATASET.SUBSAMPLE_CLASSES": "base"}}
    new = {"name": "new", "trainer": trainer, "config": config, "output_dir": f"{output}/test_new/{run}",
           "args": ["--eval-only", "--model-dir", "{base}", "--load-epoch", "-1"],
           "opts": {"DATASET.NUM_SHOTS": SHOTS, "DATASET.SUBSAMPLE_CLASSES": "new"}}
    if trainer == "ZeroShotCLIP":  # nothing to train: both halves are tested as built
        base["args"] = ["--eval-only"]
        new["args"] = ["--eval-only"]
    steps = [base, new]
    if trainer in NEEDS_PROTOTYPES:
        steps.insert(0, {
            "name": "prototype", "trainer": "DAPT", "config": f"configs/trainers/DAPT/{PROTOTYPE_CFG}.yaml",
            "output_dir": f"{output}/prototype/DAPT/{{dataset}}/shots{SHOTS}/{PROTOTYPE_CFG}/seed{{seed}}",
            "opts": {"DATASET.NUM_SHOTS": SHOTS, "TRAINER.DAPT.PROTOTYPE_GEN": True},
        })
    return {"root": root, "datasets": list(DATASETS), "seeds": list(SEEDS), "steps": steps}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], add_help=False)
    parser.add_argument("--cfg", required=True, choices=list(EXPERIMENTS), help="experiment name")
    parser.add_argument("--output", default="output", help="output root (default: output)")
    parser.add_argument("-h", "--help", action="store_true")
    args, rest = parser.parse_known_args(argv)
    if args.help:
        parser.print_help()
        print("\nOther flags go to tools.sweep: --gpus, --jobs, --datasets, --seeds, --dry-run, ...")
        return 0
    path = os.path.join(args.output, "parallel_runner", f"{args.cfg}.json")
    write_json_atomic(experiment_spec(args.cfg, args.output), path)
    print(f"Sweep spec of {args.cfg}: {path}")
    return sweep.main([path, *rest])


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ValueError, OSError, RuntimeError) as e:
        sys.exit(f"parallel_runner: {e}")
