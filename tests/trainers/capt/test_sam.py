"""SAM: retrieval never returns the query itself; the Diff-Manner Adapter touches patch tokens only."""

import torch

from clip.layout import TokenLayout
from trainers.capt.sam import AdapterSet, BankRetriever, DiffMannerAdapter, dynamic_alpha


def small_bank():
    feats = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.6, 0.8], [0.1, 0.9]])
    return {"features": feats, "labels": torch.tensor([0, 0, 1, 1, 1]), "classnames": ["a", "b"],
            "paths": [f"p{i}" for i in range(5)],
            # GT 1 predicted as 0: samples 3 and 2; GT 0 predicted as 1: sample 0
            "cells": {1: {0: [3, 2]}, 0: {1: [0]}}}


def test_retrieval_picks_nearest_candidate_and_excludes_query():
    r = BankRetriever(small_bank())
    query = torch.tensor([[1.0, 0.0]])
    pseudo, pairs = torch.tensor([0]), torch.tensor([[1]])
    assert r.retrieve(query, pseudo, pairs).tolist() == [[[0]]]  # sample 0 is the nearest in U
    assert r.retrieve(query, pseudo, pairs, exclude=[0]).tolist() == [[[3]]]
    two = r.retrieve(query, pseudo, pairs, n_rep=2, exclude=[0])
    assert two.tolist() == [[[3, 2]]]


def test_retrieval_falls_back_to_class_members_but_never_the_query():
    bank = small_bank()
    bank["cells"] = {0: {1: [1]}}  # the only candidate of pair (0, 1) is the query itself
    r = BankRetriever(bank)
    out = r.retrieve(torch.tensor([[0.9, 0.1]]), torch.tensor([0]), torch.tensor([[1]]), n_rep=3, exclude=[1])
    assert 1 not in out.flatten().tolist()
    assert set(out.flatten().tolist()) == {2, 3, 4}  # fallback: members of class j = 1
    bank["labels"] = torch.tensor([0, 0, 0, 0, 0])
    r = BankRetriever(bank)
    out = r.retrieve(torch.tensor([[0.9, 0.1]]), torch.tensor([0]), torch.tensor([[1]]), exclude=[1])
    assert out.tolist() == [[[-1]]]


def cell_candidates(r: BankRetriever, p: int, j: int) -> torch.Tensor:
    """Members of the cells (j -> p) and (p -> j) read from the bank's dict; none outside the bank."""
    if not (0 <= p < r.num_classes and 0 <= j < r.num_classes):
        return torch.empty(0, dtype=torch.long)
    items = r.cells.get(j, {}).get(p, []) + r.cells.get(p, {}).get(j, [])
    return torch.tensor(sorted(set(items)), dtype=torch.long)


def per_pair_retrieval(r: BankRetriever, query, pseudo, pairs, n_rep, exclude):
    """The retrieval rule written pair by pair: cells (j -> p) and (p -> j), else class j, never the query."""
    query = torch.nn.functional.normalize(query.float(), dim=-1)
    out = torch.full((*pairs.shape, n_rep), -1, dtype=torch.long)
    for b in range(pairs.shape[0]):
        skip = -1 if exclude[b] is None else exclude[b]
        for k in range(pairs.shape[1]):
            p, j = int(pseudo[b]), int(pairs[b, k])
            cand = cell_candidates(r, p, j)
            assert torch.equal(r.candidates(p, j), cand)
            cand = cand[cand != skip]
            if cand.numel() == 0 and 0 <= j < r.num_classes:
                cand = torch.nonzero(r.labels == j).flatten()
                cand = cand[cand != skip]
            if cand.numel():
                top = (r.features[cand] @ query[b]).topk(min(n_rep, cand.numel())).indices
                out[b, k, : top.numel()] = cand[top]
    return out


def test_batched_retrieval_equals_the_per_pair_rule_on_a_random_bank():
    gen = torch.Generator().manual_seed(0)
    n, classes, dim = 400, 6, 768  # full-size feature width: a matrix product would round differently
    labels = torch.randint(0, classes, (n,), generator=gen)
    cells = {}
    for i in range(n):
        if torch.rand(1, generator=gen) < 0.5:
            c = int(torch.randint(0, classes, (1,), generator=gen))
            cells.setdefault(int(labels[i]), {}).setdefault(c, []).append(i)
    features = torch.randn(n, dim, generator=gen)
    features[1::7] = features[0::7][: len(features[1::7])]  # exact ties: duplicated bank images
    bank = {"features": features, "labels": labels, "cells": cells,
            "classnames": [str(c) for c in range(classes)], "paths": [f"p{i}" for i in range(n)]}
    r = BankRetriever(bank)
    query = torch.randn(16, dim, generator=gen)
    pseudo = torch.randint(0, classes, (16,), generator=gen)
    pairs = torch.randint(-1, classes + 1, (16, 3), generator=gen)  # includes classes outside the bank
    exclude = [None if i % 3 == 0 else int(torch.randint(0, n, (1,), generator=gen)) for i in range(16)]
    for n_rep in (1, 2, 5):
        expected = per_pair_retrieval(r, query, pseudo, pairs, n_rep, exclude)
        assert torch.equal(r.retrieve(query, pseudo, pairs, n_rep, exclude), expected), n_rep
    assert torch.equal(r.retrieve(query, pseudo, pairs, 2), per_pair_retrieval(r, query, pseudo, pairs, 2,
                                                                              [None] * 16))


def test_retrieval_keeps_nothing_between_calls():
    bank = small_bank()
    bank["cells"][0][1] = [0, 4]  # sample 4 is of class 1: cell members are taken as the bank lists them
    r = BankRetriever(bank)
    state = {k: len(v) if hasattr(v, "__len__") else v for k, v in vars(r).items()}
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        pairs = torch.randint(-1, 3, (4, 2), generator=gen)
        r.retrieve(torch.randn(4, 2, generator=gen), torch.randint(0, 2, (4,), generator=gen), pairs, 2)
    assert {k: len(v) if hasattr(v, "__len__") else v for k, v in vars(r).items()} == state
    assert r.candidates(1, 0).tolist() == r.candidates(0, 1).tolist() == [0, 2, 3, 4]
    assert r.candidates(0, 0).tolist() == [] and r.candidates(-1, 0).tolist() == []


def test_adapter_starts_at_zero_and_skips_cls_and_prompts():
    layout = TokenLayout(num_prefix=1, grid=(3, 3), num_prompts=2)
    adapter = DiffMannerAdapter(width=4, kernel_size=3, mlp_width=16)
    x = torch.randn(2, layout.length, 4)
    assert torch.equal(adapter(x, layout), torch.zeros_like(x))
    torch.nn.init.normal_(adapter.local.weight)
    adapter.alpha = torch.tensor([1.0, 0.0])
    out = adapter(x, layout)
    assert out[0, layout.patch_slice].abs().sum() > 0
    assert torch.equal(out[:, 0], torch.zeros(2, 4)) and torch.equal(out[:, layout.prompt_slice],
                                                                     torch.zeros(2, 2, 4))
    assert torch.equal(out[1], torch.zeros_like(out[1]))  # alpha 0 for the second sample
    hidden = torch.randn(2, layout.length, 16)
    assert torch.equal(adapter.mlp_residual(hidden, layout), torch.zeros_like(hidden))


def test_adapter_set_and_dynamic_alpha():
    adapters = AdapterSet([0, 2], width=4, mlp_branch=False)
    assert sorted(adapters.keys()) == ["0", "2"] and adapters["0"].mlp_local is None
    adapters.set_alpha(0.5)
    assert all(a.alpha == 0.5 for a in adapters.values())
    alpha = dynamic_alpha(torch.tensor([0.25, 1.0]), s=5.0, gamma=0.5)
    assert torch.allclose(alpha, torch.tensor([2.5, 5.0]))
