"""Samplers selectable by name from the config."""

import copy
import random
from collections import defaultdict

from torch.utils.data.distributed import DistributedSampler
from torch.utils.data.sampler import RandomSampler, Sampler, SequentialSampler

__all__ = [
    "build_sampler",
    "build_distributed_train_sampler",
    "EvalShardSampler",
    "RandomDomainSampler",
    "SeqDomainSampler",
    "RandomClassSampler",
]


class RandomDomainSampler(Sampler):
    """Each batch holds ``batch_size // n_domain`` random items from ``n_domain`` random domains."""

    def __init__(self, data_source, batch_size, n_domain):
        if n_domain <= 0 or batch_size % n_domain != 0:
            raise ValueError(f"batch_size ({batch_size}) must be divisible by n_domain ({n_domain})")
        self.by_domain = defaultdict(list)
        for i, item in enumerate(data_source):
            self.by_domain[item.domain].append(i)
        self.domains = list(self.by_domain)
        if n_domain > len(self.domains):
            raise ValueError(f"n_domain ({n_domain}) exceeds the number of domains ({len(self.domains)})")
        self.n_domain = n_domain
        self.per_domain = batch_size // n_domain
        self.length = len(list(self.__iter__()))

    def __iter__(self):
        pools = {d: random.sample(idxs, len(idxs)) for d, idxs in self.by_domain.items()}
        out = []
        while True:
            chosen = random.sample(self.domains, self.n_domain)
            if any(len(pools[d]) < self.per_domain for d in chosen):
                break
            for d in chosen:
                out.extend(pools[d][: self.per_domain])
                del pools[d][: self.per_domain]
        return iter(out)

    def __len__(self):
        return self.length


class SeqDomainSampler(Sampler):
    """Each batch holds ``batch_size // n_domains`` random items from every domain in turn."""

    def __init__(self, data_source, batch_size):
        self.by_domain = defaultdict(list)
        for i, item in enumerate(data_source):
            self.by_domain[item.domain].append(i)
        self.domains = sorted(self.by_domain)
        if batch_size % len(self.domains) != 0:
            raise ValueError(
                f"batch_size ({batch_size}) must be divisible by the {len(self.domains)} domains"
            )
        self.per_domain = batch_size // len(self.domains)
        self.length = len(list(self.__iter__()))

    def __iter__(self):
        pools = {d: random.sample(idxs, len(idxs)) for d, idxs in self.by_domain.items()}
        out = []
        while all(len(pools[d]) >= self.per_domain for d in self.domains):
            for d in self.domains:
                out.extend(pools[d][: self.per_domain])
                del pools[d][: self.per_domain]
        return iter(out)

    def __len__(self):
        return self.length


class RandomClassSampler(Sampler):
    """Each batch holds ``n_ins`` items of each of ``batch_size // n_ins`` random classes."""

    def __init__(self, data_source, batch_size, n_ins):
        if n_ins <= 0 or batch_size % n_ins != 0 or batch_size < n_ins:
            raise ValueError(f"batch_size ({batch_size}) must be a multiple of n_ins ({n_ins})")
        self.by_label = defaultdict(list)
        for i, item in enumerate(data_source):
            self.by_label[item.label].append(i)
        self.labels = list(self.by_label)
        self.n_ins = n_ins
        self.per_batch = batch_size // n_ins
        if self.per_batch > len(self.labels):
            raise ValueError(f"batch needs {self.per_batch} classes, data has {len(self.labels)}")
        self.length = len(list(self.__iter__()))

    def __iter__(self):
        chunks = defaultdict(list)
        for label, idxs in self.by_label.items():
            idxs = copy.deepcopy(idxs)
            if len(idxs) < self.n_ins:
                idxs = random.choices(idxs, k=self.n_ins)
            random.shuffle(idxs)
            for start in range(0, len(idxs) - self.n_ins + 1, self.n_ins):
                chunks[label].append(idxs[start : start + self.n_ins])
        available = [lab for lab in self.labels if chunks[lab]]
        out = []
        while len(available) >= self.per_batch:
            for label in random.sample(available, self.per_batch):
                out.extend(chunks[label].pop(0))
                if not chunks[label]:
                    available.remove(label)
        return iter(out)

    def __len__(self):
        return self.length


def build_sampler(sampler_type, cfg=None, data_source=None, batch_size=32, n_domain=0, n_ins=16):
    """Return the sampler called ``sampler_type`` over ``data_source``."""
    if sampler_type == "RandomSampler":
        return RandomSampler(data_source)
    if sampler_type == "SequentialSampler":
        return SequentialSampler(data_source)
    if sampler_type == "RandomDomainSampler":
        return RandomDomainSampler(data_source, batch_size, n_domain)
    if sampler_type == "SeqDomainSampler":
        return SeqDomainSampler(data_source, batch_size)
    if sampler_type == "RandomClassSampler":
        return RandomClassSampler(data_source, batch_size, n_ins)
    raise ValueError(
        f"Unknown sampler type: {sampler_type!r}; expected one of RandomSampler, SequentialSampler, "
        "RandomDomainSampler, SeqDomainSampler, RandomClassSampler"
    )


def build_distributed_train_sampler(sampler_type, data_source, num_replicas, rank, seed):
    """This rank's shard of a training epoch (``torch`` ``DistributedSampler``).

    ``RandomSampler`` becomes a seeded shuffle (the trainer calls ``set_epoch`` every epoch, so every
    epoch has its own order and every rank the same one), ``SequentialSampler`` a fixed order. The
    shards are disjoint and together cover the data set (the last few items are repeated so that every
    rank gets the same count). The batch-composing samplers cannot be split this way.
    """
    if sampler_type not in ("RandomSampler", "SequentialSampler"):
        raise ValueError(
            f"DATALOADER sampler {sampler_type!r} cannot be sharded over {num_replicas} processes; "
            "distributed training supports RandomSampler and SequentialSampler"
        )
    return DistributedSampler(
        data_source,
        num_replicas=num_replicas,
        rank=rank,
        shuffle=sampler_type == "RandomSampler",
        seed=seed,
        drop_last=False,
    )


class EvalShardSampler(Sampler):
    """Rank ``rank``'s share of an evaluation: positions ``rank, rank + W, ...`` of ``0..ceil(n / W) * W``.

    Positions past the data wrap round to its start (index ``position % n``), so every rank evaluates
    the same number of items and the outputs can be gathered as equal-size tensors. :meth:`positions`
    tells which position each yielded item has; positions ``>= n`` are the padding duplicates to drop.
    """

    def __init__(self, num_items, num_replicas, rank):
        if num_items <= 0:
            raise ValueError(f"Cannot shard an evaluation of {num_items} items")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is outside 0..{num_replicas - 1}")
        self.num_items = num_items
        self.num_replicas = num_replicas
        self.rank = rank
        self.per_rank = -(-num_items // num_replicas)

    def positions(self):
        return list(range(self.rank, self.per_rank * self.num_replicas, self.num_replicas))

    def __iter__(self):
        return iter([p % self.num_items for p in self.positions()])

    def __len__(self):
        return self.per_rank
