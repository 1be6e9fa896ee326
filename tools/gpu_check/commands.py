"""The train.py command lines the check runs: the two CAPT README commands and one per checked method.

The README commands are kept exactly as published (relative paths, run from the check folder); only
``KEY VALUE`` pairs that shrink the run or point at the check's weights are appended (:func:`shrink_opts`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .world import World

STAGE1_DIR = ("output/PromptKD/base2new/train_base/caltech101/1_PromptKD_baseline/"
              "vit_b16_c2_ep20_batch32_4+4ctx/seed1")
STAGE2_DIR = ("output/PromptKD/base2new/train_base/caltech101/3_SPLE_converse/"
              "vit_b16_c2_ep20_batch4_4+4ctx_con20/seed1")
KD_OPTS = "TRAINER.MODAL base2novel TRAINER.PROMPTKD.TEMPERATURE 1.0 TRAINER.PROMPTKD.KD_WEIGHT 1000.0"

# CAPT README, stage 1 (PromptKD, builds the Confusion Bank) and stage 2, with <stage-1 output dir> filled in.
README_STAGE1 = (
    "--root DATA/caltech-101 --seed 1 --trainer PromptKD "
    "--dataset-config-file configs/datasets/caltech101.yaml "
    "--config-file configs/trainers/PromptKD/vit_b16_c2_ep20_batch32_4+4ctx.yaml "
    f"--output-dir {STAGE1_DIR} DATASET.NUM_SHOTS 0 {KD_OPTS} TEST.SPLIT val"
).split()
README_STAGE2 = (
    "--root DATA/caltech-101 --seed 1 --trainer StackSPLE_PromptKD "
    "--dataset-config-file configs/datasets/caltech101.yaml "
    "--config-file configs/trainers/SPLE/PromptKD/vit_b16_c2_ep20_batch4_4+4ctx.yaml "
    f"--output-dir {STAGE2_DIR} DATASET.NUM_SHOTS 16 SPLE.BACK_CKPT_PATH {STAGE1_DIR} "
    "SPLE.BACK_CKPT_EPOCH 20 SPLE.PIC_LIB DATA/SPLE_database/SPLE_Caltech101.json SPLE.STACK.MODE converse "
    f"SPLE.STACK.WEIGHT 0.2 DATASET.SUBSAMPLE_CLASSES base SPLE.STACK.WEIGHT_FOR_NEW 0.0 {KD_OPTS} "
    "TEST.SPLIT val"
).split()
README_COMMANDS = {"CAPT stage 1 (PromptKD)": README_STAGE1,
                   "CAPT stage 2 (StackSPLE_PromptKD)": README_STAGE2}


def shrink_opts(world: World, cpu: bool) -> list[str]:
    """Overrides appended to every command: the check's weights, one epoch, no environment report, CLIP
    built without drawing its initialisation (the check needs no upstream-equal random streams, and a
    full-size build skips seconds of CPU work); toy weights take 32 px input; on a CPU no loader workers
    (the configs ask for 8)."""
    opts = ["MODEL.CLIP_WEIGHTS_DIR", str(world.weights_dir), "OPTIM.MAX_EPOCH", "1",
            "TRAIN.COLLECT_ENV_INFO", "False", "MODEL.CLIP_INIT_DRAWS", "False"]
    if world.size == "toy":
        opts += ["INPUT.SIZE", f"({world.input_size}, {world.input_size})"]
    if cpu:
        opts += ["DATALOADER.NUM_WORKERS", "0", "USE_CUDA", "False"]
    return opts


@dataclass(frozen=True)
class MethodSpec:
    """One checked method: trainer, its published base-to-new config, the protocol's options."""

    name: str
    trainer: str
    config: str
    opts: tuple[str, ...] = ("DATASET.NUM_SHOTS", "16", "DATASET.SUBSAMPLE_CLASSES", "base")
    needs_stage1: bool = False

    def argv(self, world: World, output_dir, extra=()) -> list[str]:
        opts = [world.root / STAGE1_DIR if o == "<stage1>" else o for o in self.opts]
        if self.trainer in ("PromptKD", "CAPT"):
            opts += ["TRAINER.PROMPTKD.TEACHER_CKPT", world.teacher_file]
        return ["--root", str(world.data_root), "--seed", "1", "--trainer", self.trainer,
                "--dataset-config-file", str(world.root / "configs/datasets/caltech101.yaml"),
                "--config-file", str(world.root / "configs/trainers" / self.config),
                "--output-dir", str(output_dir), *map(str, opts), *extra]


METHODS = {
    spec.name: spec
    for spec in (
        MethodSpec("CoOp", "CoOp", "CoOp/vit_b16_ctxv1.yaml"),
        MethodSpec("CoCoOp", "CoCoOp", "CoCoOp/vit_b16_c4_ep10_batch1_ctxv1.yaml"),
        MethodSpec("PromptSRC", "PromptSRC", "PromptSRC/vit_b16_c2_ep20_batch4_4+4ctx.yaml"),
        MethodSpec("PromptKD", "PromptKD", "PromptKD/vit_b16_c2_ep20_batch32_4+4ctx.yaml",
                   ("DATASET.NUM_SHOTS", "0", *KD_OPTS.split(), "TEST.SPLIT", "val")),
        MethodSpec("UCPCoOp", "UCPCoOp", "UCPCoOp/vit_b16_ep10_ctx_batch4.yaml"),
        MethodSpec("CAPT", "CAPT", "SPLE/PromptKD/vit_b16_c2_ep20_batch4_4+4ctx.yaml",
                   ("DATASET.NUM_SHOTS", "16", "DATASET.SUBSAMPLE_CLASSES", "base",
                    "SPLE.BACK_CKPT_PATH", "<stage1>", "SPLE.STACK.MODE", "converse",
                    "SPLE.STACK.WEIGHT_FOR_NEW", "0.0", *KD_OPTS.split(), "TEST.SPLIT", "val"),
                   needs_stage1=True),
    )
}


def precision_key(trainer: str) -> str:
    """The config key holding the trainer's ``PREC`` (``TRAINER.<node>.PREC`` or ``TRAINER.PREC``)."""
    import trainers  # noqa: F401  (registers the trainers)
    from dassl.engine import TRAINER_REGISTRY

    node = getattr(TRAINER_REGISTRY.get(trainer), "prec_key", None)
    return f"TRAINER.{node}.PREC" if node else "TRAINER.PREC"
