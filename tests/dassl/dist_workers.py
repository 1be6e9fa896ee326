"""Functions run in each process of the two-process gloo tests (see ``dist_run.run_processes``).

They report through ``<out>/rank<R>.pt`` files, read by the tests.
"""

import os.path as osp

import torch
import torch.nn.functional as F
from tiny_run import dassl_step
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from dassl.engine import TRAINER_REGISTRY, TrainerX, build_trainer
from dassl.engine.distributed_eval import ShardedEvaluation, shard_loader
from dassl.modeling.backbone import BACKBONE_REGISTRY, Backbone
from dassl.utils import set_random_seed


@BACKBONE_REGISTRY.register()
class TinyPixels(Backbone):
    """A linear layer over the flattened 8x8 RGB image: a backbone for Dassl's default model."""

    def __init__(self, pretrained=False, **kwargs):
        super().__init__()
        self.proj = nn.Linear(3 * 8 * 8, 8)
        self._out_features = 8

    def forward(self, x):
        return torch.relu(self.proj(x.flatten(1)))


@TRAINER_REGISTRY.register()
class TinyDefaultModel(TrainerX):
    """A Dassl trainer on the default ``build_model`` (``SimpleNet``), calling ``self.model`` to train."""

    def forward_backward(self, batch):
        image, label = self.parse_batch_test(batch)
        return dassl_step(self, F.cross_entropy(self.model(image), label))


def fake_logits(index):
    """Deterministic [B, 3] logits of items ``index`` (any order of evaluation gives the same rows)."""
    x = index.float()
    return torch.stack([x, -x, torch.sin(x)], dim=1)


def gather_indices(rank, out, num_items, batch_size):
    """Evaluate items 0..num_items-1 split over the ranks; save what this rank saw and what it gathered."""
    loader = DataLoader(TensorDataset(torch.arange(num_items)), batch_size=batch_size)
    sharded = ShardedEvaluation(shard_loader(loader))
    seen = []
    for (index,) in sharded.loader:
        seen += index.tolist()
        sharded.add(fake_logits(index), index % 3)
    outputs, labels = sharded.gather()
    torch.save({"seen": seen, "outputs": outputs, "labels": labels}, osp.join(out, f"rank{rank}.pt"))


def evaluate_trainer(rank, cfg, state_path, out):
    """Build the tiny trainer in its own output folder, load ``state_path``, test; try to train."""
    import tiny_run  # noqa: F401  (registers TinyColors / TinyLinear in this process)

    set_random_seed(1)
    cfg = cfg.clone()
    cfg.defrost()
    cfg.OUTPUT_DIR = osp.join(out, f"rank{rank}")
    cfg.freeze()
    trainer = build_trainer(cfg)
    trainer.model.load_state_dict(torch.load(state_path))
    accuracy = trainer.test()
    report = {"accuracy": accuracy, "summary": trainer.evaluator.summary(),
              "wrong": trainer.evaluator.wrong_predictions(),
              "train_batch": trainer.train_loader_x.batch_size}
    try:
        trainer.before_train()
    except (RuntimeError, ValueError) as err:  # TinyLinear has no DDP; a batch the ranks cannot share
        report["train_refused"] = str(err)
    torch.save(report, osp.join(out, f"rank{rank}.pt"))


def train_default_model(rank, cfg):
    """Train :class:`TinyDefaultModel` (rank 0 writes the checkpoints); save the trained weights."""
    import tiny_run  # noqa: F401  (registers TinyColors in this process)

    set_random_seed(1)
    trainer = build_trainer(cfg)
    trainer.train()
    torch.save(trainer._models["model"].state_dict(), osp.join(cfg.OUTPUT_DIR, f"weights-rank{rank}.pt"))
