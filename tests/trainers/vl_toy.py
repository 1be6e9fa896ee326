"""Helpers of the IVLP-family trainer tests: toy ``train.main`` runs and reading their outputs."""

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def toy_argv(toy_world, trainer, config, output_dir, *opts, flags=(), seed=1, dataset="fashion_mnist"):
    """train.py arguments for a toy run; ``flags`` (``--eval-only`` ...) go before the KEY VALUE pairs."""
    return [
        "--root",
        str(toy_world.root),
        "--seed",
        str(seed),
        "--trainer",
        trainer,
        *flags,
        "--dataset-config-file",
        str(REPO / "configs" / "datasets" / f"{dataset}.yaml"),
        "--config-file",
        str(REPO / "configs" / "trainers" / config),
        "--output-dir",
        str(output_dir),
        "DATALOADER.NUM_WORKERS",
        "0",
        "DATALOADER.TEST.BATCH_SIZE",
        "50",
        "MODEL.CLIP_WEIGHTS_DIR",
        str(toy_world.weights_dir),
        *opts,
    ]


def run(argv):
    """``train.main(argv)``, returning the trainer."""
    import train
    import trainers.ivlp  # noqa: F401
    import trainers.promptkd  # noqa: F401
    import trainers.promptsrc  # noqa: F401

    return train.main(argv)


def trainable_names(trainer):
    return {n for n, p in trainer.model.named_parameters() if p.requires_grad}


def results(output_dir):
    return json.loads((Path(output_dir) / "results.json").read_text())


def put_random_teacher(teacher_root, weights_dir, dataset_name, classnames, seed=0):
    """A PromptKD teacher checkpoint with random prompts on the toy ``ViT-L-14`` where PromptKD looks for
    it (``<teacher_root>/<dataset_name>/VLPromptLearner/model-best.pth.tar``); returns ``teacher_root``."""
    import torch

    from clip import load
    from trainers.common.vl_prompt import IVLPDesign, VLPromptModel

    clip_model, _ = load("ViT-L-14", weights_dir=str(weights_dir))
    torch.manual_seed(seed)
    teacher = VLPromptModel(clip_model, list(classnames), IVLPDesign(4, 4, 2, 2, "a photo of a"))
    target = Path(teacher_root) / dataset_name / "VLPromptLearner" / "model-best.pth.tar"
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": teacher.state_dict(), "epoch": 1}, target)
    return Path(teacher_root)


def record_steps(monkeypatch, trainer_name: str, convert=float) -> list[dict]:
    """Wrap the trainer class's ``forward_backward`` so every step's summary (its values passed through
    ``convert``) lands in the returned list."""
    import trainers  # noqa: F401  (registers every trainer)
    from dassl.engine import TRAINER_REGISTRY

    cls = TRAINER_REGISTRY.get(trainer_name)
    original = cls.forward_backward
    steps = []

    def forward_backward(self, batch):
        summary = original(self, batch)
        steps.append({k: convert(float(v)) for k, v in summary.items()})
        return summary

    monkeypatch.setattr(cls, "forward_backward", forward_backward)
    return steps
