"""SAM's bank retrieval: the nearest misaligned Confusion-Bank sample for each mined class pair.

Features are compared in the stage-1 student's output space (the teacher's text space, 768-d for a
ViT-L/14 teacher).
"""

from __future__ import annotations

import os

import torch


def cell_entries(cells: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """The cells ``{g: {c: [sample indices]}}`` flattened to one entry per cell member: ``(g, c)`` [E, 2]
    and the member's bank index [E]."""
    pairs, members = [], []
    for g, row in cells.items():
        for c, items in row.items():
            pairs += [(int(g), int(c))] * len(items)
            members += [int(i) for i in items]
    return torch.tensor(pairs, dtype=torch.long).view(-1, 2), torch.tensor(members, dtype=torch.long)


class BankRetriever:
    """Nearest misaligned bank sample per mined pair (p, j).

    Candidates: the cells (j -> p) and (p -> j); when both are empty, any bank sample of class j. The
    query's own bank entry is never returned (pass its index in ``exclude``).
    """

    def __init__(self, bank: dict):
        self.features = torch.nn.functional.normalize(bank["features"].float(), dim=-1)
        self.labels = bank["labels"].long()
        self.cells = bank["cells"]
        self.num_classes = len(bank["classnames"])
        real = [os.path.realpath(p) for p in bank["paths"]]
        self.index_of = {r: i for i, r in enumerate(real)}
        # absolute paths as the bank lists them: a batch naming the same path skips resolving it
        self.listed = {p: self.index_of[r] for p, r in zip(bank["paths"], real) if os.path.isabs(p)}
        self.cell_pairs, self.cell_members = cell_entries(self.cells)

    def indices_of(self, paths) -> list[int | None]:
        """The bank index of each image path (None for an image outside the bank): a training batch's
        own entries, which retrieval must not return for it."""
        listed = [self.listed.get(p) for p in paths]
        return [i if i is not None else self.index_of.get(os.path.realpath(p)) for i, p in zip(listed, paths)]

    def candidate_mask(self, pseudo: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
        """[B, K, N] bool: the members of the cells (j -> p) and (p -> j) of every pair (p = ``pseudo[b]``,
        j = ``pairs[b, k]``); none for a class outside the bank. One comparison of all pairs with all cell
        entries: nothing is kept between calls."""
        p = pseudo.long()[:, None].expand_as(pairs).reshape(-1, 1)
        j = pairs.long().reshape(-1, 1)
        g, c = self.cell_pairs[:, 0], self.cell_pairs[:, 1]
        hit = ((g == j) & (c == p)) | ((g == p) & (c == j))
        hit &= self._in_bank(p) & self._in_bank(j)
        rows, entries = hit.nonzero(as_tuple=True)
        mask = torch.zeros(j.shape[0], len(self.labels), dtype=torch.bool)
        mask[rows, self.cell_members[entries]] = True
        return mask.view(*pairs.shape, -1)

    def _in_bank(self, classes: torch.Tensor) -> torch.Tensor:
        return (classes >= 0) & (classes < self.num_classes)

    def candidates(self, p: int, j: int) -> torch.Tensor:
        """Bank indices of the cells (j -> p) and (p -> j), sorted; empty for a class outside the bank."""
        return self.candidate_mask(torch.tensor([p]), torch.tensor([[j]]))[0, 0].nonzero().flatten()

    def retrieve(self, query: torch.Tensor, pseudo: torch.Tensor, pairs: torch.Tensor, n_rep: int = 1,
                 exclude: list[int] | None = None) -> torch.Tensor:
        """Bank indices [B, K, n_rep] (-1 where nothing is available), nearest first.

        All B x K pairs at once: a candidate mask per pair (its two cells, else every bank sample of class
        j; never the query's own entry), the query-bank cosine similarities of the masked candidates, top
        ``n_rep``. No Python work per pair.
        """
        query = torch.nn.functional.normalize(query.detach().float().cpu(), dim=-1)
        classes = torch.cat([pseudo.long()[:, None], pairs.long()], dim=1).cpu()  # one copy to the host
        pseudo, pairs = classes[:, 0], classes[:, 1:]
        n_img, n_pairs = pairs.shape
        out = torch.full((n_img, n_pairs, n_rep), -1, dtype=torch.long)
        if n_img * n_pairs == 0 or len(self.labels) == 0:
            return out
        mask = self.candidate_mask(pseudo, pairs)
        skip = torch.tensor([-1 if e is None else int(e) for e in (exclude or [None] * n_img)])
        own = torch.nn.functional.one_hot(skip.clamp(min=0), len(self.labels)).bool() & (skip >= 0)[:, None]
        mask &= ~own[:, None, :]
        fallback = ~mask.any(dim=-1) & self._in_bank(pairs)
        if bool(fallback.any()):
            members = self.labels[None, :] == pairs[fallback][:, None]
            mask[fallback] = members & ~own[:, None, :].expand_as(mask)[fallback]
        # One matrix-vector product per query, as a per-pair product over the candidates gives them: the same
        # values to the last bit. A single matrix-matrix product rounds differently (by about one ulp) and
        # reorders near-equal candidates: near-duplicate bank images do that, e.g. in the toy world's runs.
        sims = torch.stack([self.features @ q for q in query])
        scores = sims[:, None, :].expand_as(mask).masked_fill(~mask, float("-inf"))
        k = min(n_rep, scores.shape[-1])
        values, index = scores.topk(k, dim=-1)
        out[..., :k] = torch.where(values > float("-inf"), index, torch.full_like(index, -1))
        return out
