"""SAM's bank retrieval: the nearest misaligned Confusion-Bank sample for each mined class pair.

Features are compared in the stage-1 student's output space (the teacher's text space, 768-d for a
ViT-L/14 teacher).
"""

from __future__ import annotations

import os

import torch


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
        self.index_of = {os.path.realpath(p): i for i, p in enumerate(bank["paths"])}
        self.members = [torch.nonzero(self.labels == c).flatten() for c in range(self.num_classes)]
        self._pair_cache: dict[tuple[int, int], torch.Tensor] = {}

    def indices_of(self, paths) -> list[int | None]:
        """The bank index of each image path (None for an image outside the bank): a training batch's
        own entries, which retrieval must not return for it."""
        return [self.index_of.get(os.path.realpath(p)) for p in paths]

    def candidates(self, p: int, j: int) -> torch.Tensor:
        """Bank indices of the cells (j -> p) and (p -> j), sorted; empty for a class outside the bank."""
        key = (p, j)
        if key not in self._pair_cache:
            if not (0 <= p < self.num_classes and 0 <= j < self.num_classes):
                self._pair_cache[key] = torch.empty(0, dtype=torch.long)
            else:
                items = list(self.cells.get(j, {}).get(p, [])) + list(self.cells.get(p, {}).get(j, []))
                self._pair_cache[key] = torch.tensor(sorted(set(items)), dtype=torch.long)
        return self._pair_cache[key]

    def _pair_mask(self, p: int, j: int) -> torch.Tensor:
        """[N] bool: the candidates of the pair (p, j) among all bank samples (cached per pair)."""
        key = ("mask", p, j)
        if key not in self._pair_cache:
            mask = torch.zeros(len(self.labels), dtype=torch.bool)
            mask[self.candidates(p, j)] = True
            self._pair_cache[key] = mask
        return self._pair_cache[key]

    def retrieve(self, query: torch.Tensor, pseudo: torch.Tensor, pairs: torch.Tensor, n_rep: int = 1,
                 exclude: list[int] | None = None) -> torch.Tensor:
        """Bank indices [B, K, n_rep] (-1 where nothing is available), nearest first.

        All B x K pairs at once: a candidate mask per pair (its two cells, else every bank sample of class
        j; never the query's own entry), the query-bank cosine similarities of the masked candidates, top
        ``n_rep``. No Python work per pair beyond a cached mask lookup.
        """
        query = torch.nn.functional.normalize(query.detach().float().cpu(), dim=-1)
        pseudo, pairs = pseudo.cpu().long(), pairs.cpu().long()
        n_img, n_pairs = pairs.shape
        out = torch.full((n_img, n_pairs, n_rep), -1, dtype=torch.long)
        if n_img * n_pairs == 0 or len(self.labels) == 0:
            return out
        rows = [self._pair_mask(p, j) for p, j in zip(pseudo.repeat_interleave(n_pairs).tolist(),
                                                        pairs.flatten().tolist())]
        mask = torch.stack(rows).view(n_img, n_pairs, -1).clone()
        skip = torch.tensor([-1 if e is None else int(e) for e in (exclude or [None] * n_img)])
        own = torch.nn.functional.one_hot(skip.clamp(min=0), len(self.labels)).bool() & (skip >= 0)[:, None]
        mask &= ~own[:, None, :]
        valid_j = (pairs >= 0) & (pairs < self.num_classes)
        fallback = ~mask.any(dim=-1) & valid_j
        if bool(fallback.any()):
            members = self.labels[None, :] == pairs[fallback][:, None]
            mask[fallback] = members & ~own[:, None, :].expand_as(mask)[fallback]
        # One matrix-vector product per query, as a per-pair product would give them: the same values to
        # the last bit (a matrix-matrix product may round differently and reorder near-equal candidates).
        sims = torch.stack([self.features @ q for q in query])[:, None, :].expand_as(mask)
        scores = sims.masked_fill(~mask, float("-inf"))
        k = min(n_rep, scores.shape[-1])
        values, index = scores.topk(k, dim=-1)
        out[..., :k] = torch.where(values > float("-inf"), index, torch.full_like(index, -1))
        return out
