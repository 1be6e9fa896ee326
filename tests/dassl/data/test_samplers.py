"""Samplers by name."""

import pytest
from torch.utils.data import RandomSampler

from dassl.data.samplers import build_sampler


class Item:
    def __init__(self, label, domain):
        self.label, self.domain = label, domain


def test_builtin_samplers():
    data = [Item(i % 3, i % 2) for i in range(12)]
    assert isinstance(build_sampler("RandomSampler", data_source=data), RandomSampler)
    assert list(build_sampler("SequentialSampler", data_source=data)) == list(range(12))
    with pytest.raises(ValueError, match="Unknown sampler"):
        build_sampler("Whatever", data_source=data)


def test_class_and_domain_samplers_balance_batches():
    data = [Item(i % 3, i % 2) for i in range(24)]
    idx = list(build_sampler("RandomClassSampler", data_source=data, batch_size=4, n_ins=2))
    batches = [idx[i : i + 4] for i in range(0, len(idx), 4)]
    for b in batches:
        labels = [data[i].label for i in b]
        assert labels[0] == labels[1] and labels[2] == labels[3] and labels[0] != labels[2]
    idx = list(build_sampler("RandomDomainSampler", data_source=data, batch_size=4, n_domain=2))
    for start in range(0, len(idx), 4):
        assert sorted(data[i].domain for i in idx[start : start + 4]) == [0, 0, 1, 1]
    assert len(set(idx)) == len(idx)


# ------------------------------------------------------------------------------------ distributed runs
def shards(sampler_type, n, world, seed=1, epoch=0):
    from dassl.data.samplers import build_distributed_train_sampler

    out = []
    for rank in range(world):
        sampler = build_distributed_train_sampler(sampler_type, list(range(n)), world, rank, seed)
        sampler.set_epoch(epoch)
        out.append(list(sampler))
    return out


def test_training_shards_are_disjoint_and_cover_the_epoch():
    parts = shards("RandomSampler", 10, 2)
    assert [len(p) for p in parts] == [5, 5]
    assert sorted(parts[0] + parts[1]) == list(range(10))  # the single-process epoch, split
    assert parts[0] != sorted(parts[0]) or parts[1] != sorted(parts[1])  # shuffled


def test_training_shards_pad_an_uneven_epoch_with_repeats():
    parts = shards("RandomSampler", 7, 2)
    assert [len(p) for p in parts] == [4, 4]
    assert set(parts[0] + parts[1]) == set(range(7))


def test_training_shards_follow_seed_and_epoch():
    assert shards("RandomSampler", 12, 2, seed=1) == shards("RandomSampler", 12, 2, seed=1)
    assert shards("RandomSampler", 12, 2, seed=1) != shards("RandomSampler", 12, 2, seed=2)
    epoch0, epoch1 = shards("RandomSampler", 12, 2, epoch=0), shards("RandomSampler", 12, 2, epoch=1)
    assert epoch0 != epoch1 and sorted(sum(epoch1, [])) == list(range(12))


def test_sequential_training_shards_keep_the_order():
    assert shards("SequentialSampler", 6, 2) == [[0, 2, 4], [1, 3, 5]]


def test_batch_composing_samplers_are_refused_when_sharded():
    with pytest.raises(ValueError, match="RandomClassSampler.*cannot be sharded over 2 processes"):
        shards("RandomClassSampler", 6, 2)


def test_evaluation_shards_pad_from_the_start_and_say_where_each_item_was():
    from dassl.data.samplers import EvalShardSampler

    rank0, rank1 = EvalShardSampler(5, 2, 0), EvalShardSampler(5, 2, 1)
    assert (list(rank0), list(rank1)) == ([0, 2, 4], [1, 3, 0])
    assert (rank0.positions(), rank1.positions()) == ([0, 2, 4], [1, 3, 5])  # position 5 = padding
    assert len(rank0) == len(rank1) == 3
    assert list(EvalShardSampler(4, 2, 1)) == [1, 3]  # no padding when it divides
    with pytest.raises(ValueError, match="rank 2"):
        EvalShardSampler(4, 2, 2)


def test_the_training_batch_size_is_global():
    from dassl.data.data_manager import per_process_batch_size

    assert per_process_batch_size(32, 4) == 8
    assert per_process_batch_size(5, 1) == 5
    with pytest.raises(ValueError, match="BATCH_SIZE 1 is the global batch.*2 processes"):
        per_process_batch_size(1, 2)
