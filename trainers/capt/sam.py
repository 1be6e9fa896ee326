"""SAM, the Sample Confusion Miner: bank retrieval and the Diff-Manner Adapter.

Spaces: retrieval compares features in the stage-1 student's output space (the teacher's text space,
768-d for a ViT-L/14 teacher); the adapter works inside the student ViT on its token width (768 for
ViT-B/16) and, for the MLP branch, on the MLP hidden width (4x).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from clip.prompts import grid_to_tokens, tokens_to_grid


# ------------------------------------------------------------------------------------------ adapter
class DiffMannerAdapter(nn.Module):
    """Local context next to a frozen block's global attention: ``X <- X + alpha * DWConv(X_hat)``.

    The depthwise convolution runs over the patch tokens only (class token and prompt tokens excluded,
    located through the block's ``TokenLayout``) of the block's normalised input; with ``mlp_width`` a
    second depthwise convolution does the same on the MLP hidden channels. Weights start at zero, so the
    adapted encoder starts exactly at the frozen one. ``alpha`` is a float or a per-sample tensor [B].
    """

    def __init__(self, width: int, kernel_size: int = 3, mlp_width: int | None = None):
        super().__init__()
        self.local = self._dwconv(width, kernel_size)
        self.mlp_local = self._dwconv(mlp_width, kernel_size) if mlp_width else None
        self.alpha: float | torch.Tensor = 0.1

    @staticmethod
    def _dwconv(channels: int, kernel_size: int) -> nn.Conv2d:
        conv = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2, groups=channels,
                         bias=False)
        nn.init.zeros_(conv.weight)
        return conv

    def _branch(self, conv: nn.Conv2d, x: torch.Tensor, layout) -> torch.Tensor | None:
        if layout is None or layout.num_patches == 0:
            return None
        grid = tokens_to_grid(x.to(conv.weight.dtype), layout)
        out = grid_to_tokens(conv(grid), layout)
        alpha = self.alpha
        if isinstance(alpha, torch.Tensor):
            alpha = alpha.to(out).reshape(-1, 1, 1)
        return alpha * out

    def forward(self, normed_tokens: torch.Tensor, layout) -> torch.Tensor | None:
        return self._branch(self.local, normed_tokens, layout)

    def mlp_residual(self, hidden: torch.Tensor, layout) -> torch.Tensor | None:
        return None if self.mlp_local is None else self._branch(self.mlp_local, hidden, layout)


class AdapterSet(nn.ModuleDict):
    """Adapters keyed by ``str(block index)``, passed as ``adapters=`` to ``encode_image``."""

    def __init__(self, layers: list[int], width: int, kernel_size: int = 3, mlp_branch: bool = True):
        super().__init__({str(i): DiffMannerAdapter(width, kernel_size, 4 * width if mlp_branch else None)
                          for i in layers})

    def set_alpha(self, alpha: float | torch.Tensor) -> None:
        for adapter in self.values():
            adapter.alpha = alpha


def dynamic_alpha(intensity: torch.Tensor, s: float, gamma: float) -> torch.Tensor:
    """alpha = s * c^gamma from the query's confusion intensity c = max_j S_j."""
    return s * intensity.clamp_min(0.0).pow(gamma)


# ---------------------------------------------------------------------------------------- retrieval
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
        self.index_of = {p: i for i, p in enumerate(bank["paths"])}
        self.members = [torch.nonzero(self.labels == c).flatten() for c in range(self.num_classes)]
        self._pair_cache: dict[tuple[int, int], torch.Tensor] = {}

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


class ImageLoader:
    """Bank images by index, transformed; decoded images are kept in a small LRU cache."""

    def __init__(self, paths: list[str], read_image, capacity: int = 512):
        self.paths = paths
        self.read_image = read_image
        self.capacity = capacity
        self._cache: OrderedDict[int, object] = OrderedDict()

    def image(self, index: int):
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        try:
            img = self.read_image(self.paths[index])
        except OSError as err:
            raise FileNotFoundError(
                f"Confusion-bank image {self.paths[index]} cannot be read ({err}); rebuild the bank with "
                f"python -m tools.confusion.build_bank --run-dir <stage-1 dir>") from None
        if self.capacity > 0:
            self._cache[index] = img
            if len(self._cache) > self.capacity:
                self._cache.popitem(last=False)
        return img

    def load(self, indices: list[int], transform) -> torch.Tensor:
        return torch.stack([transform(self.image(i)) for i in indices])
