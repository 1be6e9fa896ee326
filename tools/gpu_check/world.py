"""The folder a check runs in: random CLIP weights, a PromptKD teacher, a synthetic Caltech101 tree.

Laid out as a user's working directory (``DATA/caltech-101``, ``teacher_model/Caltech101/VLPromptLearner/``,
``configs`` linked to the repository's), so the published command lines run in it unchanged.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from clip import load
from clip.checkpoint_keys import to_upstream_state_dict
from clip.testing import save_state_dict
from dassl.run_dir import BEST_FILE
from datasets.splits import num_base_classes
from datasets.synthetic import make_caltech101
from trainers.common.teacher import STUDENT_FOLDER, teacher_design

from .weights import input_size, write_clip_weights

REPO = Path(__file__).resolve().parents[2]
DATASET_NAME = "Caltech101"
# 6 classes (3 base, 3 new). Full: 40 images per class -> 20 train / 8 val / 12 test, so 16-shot base
# training fills a batch of 32 and the unlabelled PromptKD stage has 120 images. Toy: 5 / 2 / 3, fewer steps.
IMAGES_PER_CLASS = {"full": 40, "toy": 10}


def add_world_args(parser: argparse.ArgumentParser) -> None:
    """``--device`` and ``--size``, shared by the GPU check and the benchmarks."""
    parser.add_argument("--device", default=None, help="cuda, cuda:N or cpu (default: cuda when available)")
    parser.add_argument("--size", choices=("toy", "full"), default=None,
                        help="random weights: full-size ViT-B/16 + ViT-L/14, or toy (default: full on CUDA, "
                             "toy on CPU)")


def resolve_device(requested: str | None) -> torch.device:
    """The device to run on; a CUDA request on a machine without CUDA falls back to the CPU part."""
    if requested is None or requested.startswith("cuda"):
        if not torch.cuda.is_available():
            print("CUDA is not available on this machine: running the CPU part only. Run this command on a "
                  "machine with a CUDA GPU for the GPU check.")
            return torch.device("cpu")
        device = torch.device(requested or "cuda")
        if device.index is not None:
            torch.cuda.set_device(device)
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device(requested)


def settle_world_args(args: argparse.Namespace) -> torch.device:
    """Resolve ``--device`` and fill the default ``--size`` for it (full on CUDA, toy on the CPU)."""
    device = resolve_device(args.device)
    args.size = args.size or ("toy" if device.type == "cpu" else "full")
    return device


@dataclass
class World:
    """Where everything of one check lives (``root`` is also the working directory of the README runs)."""

    root: Path
    size: str

    @property
    def weights_dir(self) -> Path:
        return self.root / "clip"

    @property
    def data_root(self) -> Path:
        return self.root / "DATA"

    @property
    def teacher_file(self) -> Path:
        return self.root / "teacher_model" / DATASET_NAME / STUDENT_FOLDER / BEST_FILE

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def input_size(self) -> int:
        return input_size(self.size)


def write_teacher(path: Path, weights_dir: Path, classnames: list[str], device) -> Path:
    """A PromptSRC-trained ViT-L/14 teacher as PromptKD loads it: a Dassl checkpoint whose prompt tensors
    have upstream key names (``prompt_learner.ctx``, ``image_encoder.VPT``, ``...resblocks.<i>.VPT_shallow``).

    The prompts are random; the frozen CLIP keys are left out (they equal ``ViT-L-14.pt``, which the loader
    reads anyway), which keeps the file small. The design is the trainer's default (``TEACHER_DEPTH`` 9).
    """
    from dassl.config import extend_cfg, get_cfg_default
    from trainers.common.vl_prompt import VLPromptModel

    node = extend_cfg(get_cfg_default()).TRAINER.PROMPTKD
    clip_model, _ = load("ViT-L/14", device=device, weights_dir=str(weights_dir))
    model = VLPromptModel(clip_model, classnames, teacher_design(node))
    prompts = {id(p) for p in model.trainable_params()}
    generator = torch.Generator().manual_seed(2)
    state = {}
    for name, param in model.named_parameters():
        if id(param) in prompts:
            state[name] = torch.randn(param.shape, generator=generator) * 0.02
    checkpoint = {"state_dict": to_upstream_state_dict(state), "epoch": 20, "optimizer": None,
                  "scheduler": None, "val_result": None}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_state_dict(checkpoint, str(path))
    return path


def build_world(root: Path, size: str, device) -> World:
    """Write weights, the synthetic dataset and the teacher under ``root``; link ``configs``."""
    world = World(root=Path(root).resolve(), size=size)
    world.root.mkdir(parents=True, exist_ok=True)
    write_clip_weights(world.weights_dir, size, device)
    classnames = make_caltech101(world.data_root, per_class=IMAGES_PER_CLASS[size])
    base = classnames[: num_base_classes(len(classnames))]
    write_teacher(world.teacher_file, world.weights_dir, base, device)
    link = world.root / "configs"
    if not link.exists():
        os.symlink(REPO / "configs", link)
    return world
