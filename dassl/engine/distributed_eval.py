"""Evaluation split over the processes of a distributed run, gathered back into data set order.

Each rank runs the model on its :class:`~dassl.data.samplers.EvalShardSampler` share of the evaluated
split; the outputs and labels of every rank are all-gathered, the padding duplicates dropped and the rest
put back in data set order. The evaluator then sees exactly what a single process would have fed it, so
the metrics (and ``wrong_predictions.json`` indices) are the single-process ones, computed in 1/W of the
forward time.
"""

import torch
from torch.utils.data import DataLoader

from dassl.data.samplers import EvalShardSampler
from dassl.utils.distributed import all_gather_tensor, get_rank, get_world_size

__all__ = ["ShardedEvaluation", "order_gathered", "shard_loader"]


def shard_loader(loader):
    """A loader over this rank's share of ``loader``'s data set (same batch size, workers and collate)."""
    sampler = EvalShardSampler(len(loader.dataset), get_world_size(), get_rank())
    return DataLoader(
        loader.dataset,
        batch_size=loader.batch_size,
        sampler=sampler,
        num_workers=loader.num_workers,
        collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory,
        worker_init_fn=loader.worker_init_fn,
        drop_last=False,
    )


def order_gathered(gathered, positions, num_items):
    """Rows of ``gathered`` [W, n, ...] in data set order, padding duplicates (positions >= n_items) dropped.

    ``positions`` [W, n] gives the position of every gathered row; the positions below ``num_items`` must
    be exactly ``0..num_items - 1``, each once.
    """
    flat = gathered.reshape(-1, *gathered.shape[2:])
    flat_positions = positions.reshape(-1)
    keep = flat_positions < num_items
    kept_positions = flat_positions[keep]
    order = torch.argsort(kept_positions)
    if not torch.equal(kept_positions[order], torch.arange(num_items)):
        raise RuntimeError(f"Gathered evaluation positions do not cover 0..{num_items - 1} exactly once")
    return flat[keep][order]


class ShardedEvaluation:
    """This rank's outputs and labels, collected per batch; :meth:`gather` returns all ranks', ordered."""

    def __init__(self, loader):
        self.loader = loader
        self.outputs = []
        self.labels = []

    def add(self, output, label):
        if not torch.is_tensor(output):
            raise TypeError(
                f"Distributed evaluation gathers a logits tensor per batch; model_inference returned "
                f"{type(output).__name__}"
            )
        self.outputs.append(output.detach())
        self.labels.append(label.detach())

    def gather(self):
        """``(outputs, labels)`` of the whole split in data set order, on the CPU, on every rank."""
        sampler = self.loader.sampler
        positions = torch.tensor(sampler.positions(), dtype=torch.long)
        outputs = torch.cat(self.outputs)
        labels = torch.cat(self.labels).long()
        if outputs.shape[0] != positions.numel():
            raise RuntimeError(f"Evaluated {outputs.shape[0]} items on rank {get_rank()}, expected "
                               f"{positions.numel()}")
        num_items = sampler.num_items
        all_positions = all_gather_tensor(positions.to(labels.device))
        return (order_gathered(all_gather_tensor(outputs), all_positions, num_items),
                order_gathered(all_gather_tensor(labels), all_positions, num_items))
