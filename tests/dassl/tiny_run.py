"""A tiny image dataset and trainers for engine and ``train.py`` tests.

``TinyColors`` reads 8x8 PNGs whose colour encodes the class (written by
:func:`make_image_tree`); ``TinyLinear`` is a linear classifier trained with
SGD. Both are registered under their class names on import.
"""

import os
import os.path as osp
import random

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from dassl.config import extend_cfg, get_cfg_default, merge_cfg_from_list
from dassl.data.datasets import DATASET_REGISTRY, DatasetBase, Datum
from dassl.engine import TRAINER_REGISTRY, ClipLoadModelMixin, TrainerX
from dassl.optim import build_lr_scheduler, build_optimizer

CLASSNAMES = ["red", "green", "blue"]
COLORS = [(200, 40, 40), (40, 200, 40), (40, 40, 200)]
SPLIT_SIZES = {"train": 8, "val": 3, "test": 5}


def make_image_tree(root, size=8, seed=0):
    """Write ``root/tiny_colors/<split>/<class>/<i>.png`` (noisy solid colours); return ``root``."""
    rng = np.random.default_rng(seed)
    for split, n in SPLIT_SIZES.items():
        for name, color in zip(CLASSNAMES, COLORS):
            folder = osp.join(root, "tiny_colors", split, name)
            os.makedirs(folder, exist_ok=True)
            for i in range(n):
                noise = rng.integers(-60, 60, size=(size, size, 3))
                pixels = np.clip(np.array(color)[None, None, :] + noise, 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(osp.join(folder, f"{i}.png"))
    return root


@DATASET_REGISTRY.register()
class TinyColors(DatasetBase):
    """Plain Dassl-style dataset (``__init__(self, cfg)``, no wiring argument)."""

    dataset_dir = "tiny_colors"

    def __init__(self, cfg):
        root = osp.join(cfg.DATASET.ROOT, self.dataset_dir)
        train, val, test = (self._read(osp.join(root, split)) for split in ("train", "val", "test"))
        if cfg.DATASET.NUM_SHOTS >= 1:
            train = self.generate_fewshot_dataset(train, num_shots=cfg.DATASET.NUM_SHOTS)
        super().__init__(train_x=train, val=val, test=test)

    @staticmethod
    def _read(folder):
        items = []
        for label, name in enumerate(CLASSNAMES):
            class_dir = osp.join(folder, name)
            for fname in sorted(os.listdir(class_dir), key=lambda f: int(f.split(".")[0])):
                items.append(Datum(impath=osp.join(class_dir, fname), label=label, classname=name))
        return items


class TinyNet(nn.Module):
    def __init__(self, num_classes, in_features=3 * 8 * 8):
        super().__init__()
        self.fc = nn.Linear(in_features, num_classes)
        self.dropout = nn.Dropout(0.1)
        # A class-count-dependent buffer, like CoOp's frozen token embeddings.
        self.register_buffer("token_prefix", torch.arange(num_classes, dtype=torch.float32).unsqueeze(1))

    def forward(self, x):
        return self.fc(self.dropout(x.flatten(1)))


@TRAINER_REGISTRY.register()
class TinyLinear(TrainerX):
    """Linear classifier; ``stop_before_epoch`` simulates a kill before that epoch starts."""

    stop_before_epoch = None
    model_name = "tiny_model"

    def build_model(self):
        torch.manual_seed(random.randint(0, 10_000))  # model init depends on the run's seed
        self.model = TinyNet(self.num_classes).to(self.device)
        self.optim = build_optimizer(self.model, self.cfg.OPTIM)
        self.sched = build_lr_scheduler(self.optim, self.cfg.OPTIM)
        self.register_model(self.model_name, self.model, self.optim, self.sched)

    def before_epoch(self):
        if self.stop_before_epoch is not None and self.epoch == self.stop_before_epoch:
            raise KeyboardInterrupt(f"simulated kill before epoch {self.epoch}")

    def forward_backward(self, batch):
        image, label = self.parse_batch_test(batch)
        return dassl_step(self, F.cross_entropy(self.model(image), label))


def dassl_step(trainer, loss) -> dict:
    """One Dassl-style update: backward and step, the schedulers on the last batch of the epoch."""
    trainer.model_backward_and_update(loss)
    if trainer.batch_idx + 1 == trainer.num_batches:
        trainer.update_lr()
    return {"loss": loss.item()}


@TRAINER_REGISTRY.register()
class TinyPrompt(ClipLoadModelMixin, TinyLinear):
    """TinyLinear with the CLIP-trainer ``load_model`` convention."""


def tiny_argv(root, output_dir, *opts, flags=(), trainer="TinyLinear", seed=1, epochs=2):
    """Command line for ``train.main`` on the tiny dataset: flags first, then ``KEY VALUE`` opts."""
    argv = ["--root", str(root), "--output-dir", str(output_dir), "--trainer", trainer, *flags]
    if seed is not None:
        argv += ["--seed", str(seed)]
    argv += [
        "DATASET.NAME", "TinyColors",
        "INPUT.SIZE", "(8, 8)",
        "INPUT.TRANSFORMS", "['random_flip', 'normalize']",
        "DATALOADER.NUM_WORKERS", "0",
        "DATALOADER.TRAIN_X.BATCH_SIZE", "4",
        "DATALOADER.TEST.BATCH_SIZE", "4",
        "OPTIM.NAME", "sgd",
        "OPTIM.LR", "0.05",
        "OPTIM.MAX_EPOCH", str(epochs),
        "OPTIM.LR_SCHEDULER", "cosine",
        "OPTIM.WARMUP_EPOCH", "1",
        "OPTIM.WARMUP_TYPE", "constant",
        "TRAIN.PRINT_FREQ", "2",
        "TRAIN.COLLECT_ENV_INFO", "False",
        "TRAIN.PROGRESS_BAR", "False",
        "USE_CUDA", "False",
    ]
    return argv + list(opts)


def tiny_cfg(root, output_dir, *opts, trainer="TinyLinear", epochs=2):
    """The config ``train.py`` would build from :func:`tiny_argv` (without seeding)."""
    argv = tiny_argv(root, output_dir, seed=None, epochs=epochs)
    cfg = extend_cfg(get_cfg_default())
    cfg.DATASET.ROOT = str(root)
    cfg.OUTPUT_DIR = str(output_dir)
    cfg.TRAINER.NAME = trainer
    merge_cfg_from_list(cfg, argv[argv.index("DATASET.NAME") :] + list(opts))
    return cfg
