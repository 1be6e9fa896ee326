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
