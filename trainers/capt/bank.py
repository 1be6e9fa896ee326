"""The Confusion Bank: a GT-class x confused-class grid whose cells hold misaligned training samples.

Built from the frozen stage-1 student over the base-class training images (never new-class labels, never
test images). Per sample we keep the image path, the GT label, the mean softmax over several views, the
prediction, the normalised feature of the test view (the student's output space, i.e. the teacher's text
space) and, per view, the top classes with their probabilities (for the stability statistic).

The file ``confusion_bank.pt`` holds only tensors, lists, dicts and plain scalars, so it loads with
``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from dassl.utils import save_torch_atomic

BANK_VERSION = 1


@dataclass(frozen=True)
class BankParams:
    """Aggregation settings (``CAPT.BANK.*``)."""

    near_miss_topr: int = 3
    near_miss_tau: float = 0.05
    max_per_cell: int = 32
    min_stability: float = 0.0
    soft_weight: float = 1.0

    @classmethod
    def from_cfg(cls, cfg) -> BankParams:
        b = cfg.CAPT.BANK
        return cls(int(b.NEAR_MISS_TOPR), float(b.NEAR_MISS_TAU), int(b.MAX_PER_CELL),
                   float(b.MIN_STABILITY), float(b.SOFT_WEIGHT))


def _view_registers(top_idx: torch.Tensor, top_p: torch.Tensor, c: int, params: BankParams) -> bool:
    """Does one view (its top classes, descending) register the confusion towards ``c``?"""
    if int(top_idx[0]) == c:
        return True
    hits = (top_idx[: params.near_miss_topr] == c) & (top_p[: params.near_miss_topr] >= params.near_miss_tau)
    return bool(hits.any())


def aggregate(labels: torch.Tensor, probs: torch.Tensor, view_top_idx: torch.Tensor,
              view_top_p: torch.Tensor, params: BankParams) -> dict:
    """Counts, cells and stability from per-sample statistics.

    Args:
        labels: [N] GT base labels.
        probs: [N, C] mean softmax over the views.
        view_top_idx, view_top_p: [N, V, R] per-view top-R classes (descending) and their probabilities.

    Returns a dict with ``preds`` [N], ``N_hard`` / ``N_soft`` / ``N`` / ``stable`` [C, C] and ``cells``
    ``{g: {c: [sample indices]}}`` (sorted by p[c], capped at ``max_per_cell``). Pairs whose stability is
    below ``min_stability`` are removed from ``cells`` and zeroed in ``N`` (the raw counts keep them).
    """
    n, c_num = probs.shape
    labels = labels.long()
    preds = probs.argmax(dim=1)
    n_hard = torch.zeros(c_num, c_num)
    wrong = preds != labels
    n_hard.index_put_((labels[wrong], preds[wrong]), torch.ones(int(wrong.sum())), accumulate=True)
    n_soft = torch.zeros(c_num, c_num).index_add_(0, labels, probs.float())
    n_soft.fill_diagonal_(0.0)

    topr = min(params.near_miss_topr, c_num)
    top_p, top_i = probs.topk(topr, dim=1)
    registered: dict[tuple[int, int], list[tuple[float, int]]] = {}
    stab_sum: dict[tuple[int, int], float] = {}
    num_views = view_top_idx.shape[1]
    for i in range(n):
        g = int(labels[i])
        targets = set()
        if int(preds[i]) != g:
            targets.add(int(preds[i]))
        for p, c in zip(top_p[i].tolist(), top_i[i].tolist()):
            if c != g and p >= params.near_miss_tau:
                targets.add(c)
        for c in targets:
            registered.setdefault((g, c), []).append((float(probs[i, c]), i))
            votes = sum(_view_registers(view_top_idx[i, v], view_top_p[i, v], c, params)
                        for v in range(num_views))
            stab_sum[(g, c)] = stab_sum.get((g, c), 0.0) + votes / num_views

    stable = torch.zeros(c_num, c_num)
    cells: dict[int, dict[int, list[int]]] = {}
    combined = n_hard + params.soft_weight * n_soft
    for (g, c), members in registered.items():
        stable[g, c] = stab_sum[(g, c)] / len(members)
        if stable[g, c] < params.min_stability:
            combined[g, c] = 0.0
            continue
        members.sort(key=lambda t: (-t[0], t[1]))
        cells.setdefault(g, {})[c] = [i for _, i in members[: params.max_per_cell]]
    return {"preds": preds, "N_hard": n_hard, "N_soft": n_soft, "N": combined, "stable": stable,
            "cells": cells}


def make_bank(classnames: list[str], paths: list[str], labels: torch.Tensor, probs: torch.Tensor,
              features: torch.Tensor, view_top_idx: torch.Tensor, view_top_p: torch.Tensor,
              params: BankParams, meta: dict | None = None) -> dict:
    """The complete bank record (per-sample data + aggregates + settings)."""
    if not (len(paths) == labels.shape[0] == probs.shape[0] == features.shape[0]):
        raise ValueError("bank inputs disagree on the number of samples: "
                         f"{len(paths)} paths, {labels.shape[0]} labels, {probs.shape[0]} probs, "
                         f"{features.shape[0]} features")
    if probs.shape[1] != len(classnames):
        raise ValueError(f"probabilities over {probs.shape[1]} classes but {len(classnames)} class names")
    agg = aggregate(labels, probs, view_top_idx, view_top_p, params)
    view_preds = view_top_idx[:, :, 0].clone()
    return {
        "version": BANK_VERSION,
        "classnames": list(classnames),
        "paths": list(paths),
        "labels": labels.long().cpu(),
        "probs": probs.float().cpu(),
        "features": features.float().cpu(),
        "view_preds": view_preds.long().cpu(),
        **agg,
        "params": dict(vars(params)),
        "meta": dict(meta or {}),
    }


def pair_table(bank: dict, k: int = 10, key: str = "N_hard") -> list[dict]:
    """The ``k`` most confused (GT, predicted) pairs by ``key``, most confused first."""
    mat = bank[key]
    names = bank["classnames"]
    flat = mat.flatten()
    order = flat.argsort(descending=True)
    rows = []
    for idx in order.tolist():
        g, c = divmod(idx, mat.shape[1])
        if g == c or float(flat[idx]) <= 0 or len(rows) >= k:
            continue
        rows.append({"gt": names[g], "pred": names[c], "gt_index": g, "pred_index": c,
                     "hard": int(bank["N_hard"][g, c]), "soft": float(bank["N_soft"][g, c]),
                     "score": float(bank["N"][g, c]), "stable": float(bank["stable"][g, c]),
                     "cell_size": len(bank["cells"].get(g, {}).get(c, []))})
    return rows


def save_bank(bank: dict, path: str) -> None:
    save_torch_atomic(bank, path)


REQUIRED_KEYS = ("version", "classnames", "paths", "labels", "features", "N", "N_hard", "N_soft", "cells")


def load_bank(path: str) -> dict:
    """Load and check a bank file (``weights_only=True``)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Confusion bank not found at {path}")
    bank = torch.load(path, map_location="cpu", weights_only=True)
    missing = [k for k in REQUIRED_KEYS if k not in bank]
    if missing:
        raise ValueError(f"{path} is not a confusion bank (missing keys {missing})")
    if bank["version"] != BANK_VERSION:
        raise ValueError(f"{path}: bank version {bank['version']}, this code reads version {BANK_VERSION}")
    return bank
