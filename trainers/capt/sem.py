"""SEM, the Semantic Confusion Miner: confusion scores, pair mining and the pair-guidance tokens.

Spaces: logits ``z`` are over the current class set; the guidance tokens live in the teacher's text
embedding space (768-d for ViT-L/14), which is also the space of the stage-1 student's output features.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os

import torch

from dassl.utils import save_torch_atomic

from .textfiles import pair_texts

logger = logging.getLogger(__name__)
KINDS = ("diff", "common")


# ------------------------------------------------------------------------------------------- scoring
def pair_counts(bank_n: torch.Tensor | None, pseudo: torch.Tensor, num_classes: int,
                mode: str) -> torch.Tensor:
    """n_j for each query: rows of the bank matrix at the pseudo-GT (``sym``: N[p,j] + N[j,p])."""
    if bank_n is None:
        return torch.zeros(pseudo.shape[0], num_classes, device=pseudo.device)
    bank_n = bank_n.to(pseudo.device).float()
    if bank_n.shape != (num_classes, num_classes):
        raise ValueError(f"bank matrix {tuple(bank_n.shape)} does not match {num_classes} classes")
    if mode == "sym":
        return bank_n[pseudo] + bank_n[:, pseudo].t()
    if mode == "row":
        return bank_n[pseudo]
    if mode == "col":
        return bank_n[:, pseudo].t()
    raise ValueError(f"CAPT.SEM.COUNT_MODE must be sym, row or col, got {mode!r}")


def confusion_scores(logits: torch.Tensor, bank_n: torch.Tensor | None, mode: str = "sym"):
    """S_j = (1 + n_j / sum_k n_k) * softmax(z)_j, with S = C when the row has no counts.

    Returns ``(S [B, C], pseudo [B])``; ``pseudo`` = argmax of the frozen stage-1 logits (no ground truth).
    """
    probs = logits.float().softmax(dim=-1)
    pseudo = probs.argmax(dim=-1)
    counts = pair_counts(bank_n, pseudo, logits.shape[-1], mode)
    counts = counts.scatter(1, pseudo[:, None], 0.0)
    total = counts.sum(dim=-1, keepdim=True)
    ratio = torch.where(total > 0, counts / total.clamp_min(1e-12), torch.zeros_like(counts))
    return (1.0 + ratio) * probs, pseudo


def mine_pairs(scores: torch.Tensor, pseudo: torch.Tensor, topk: int):
    """Top-``topk`` classes j != pseudo-GT by score: ``(pairs [B, K], intensity [B] = max_j S_j)``."""
    k = min(topk, scores.shape[-1] - 1)
    if k < 1:
        raise ValueError("pair mining needs at least two classes")
    masked = scores.scatter(1, pseudo[:, None], float("-inf"))
    top = masked.topk(k, dim=-1)
    return top.indices, top.values[:, 0]


# -------------------------------------------------------------------------------------- compression
def kmeans(x: torch.Tensor, k: int, iters: int = 20) -> torch.Tensor:
    """Deterministic cosine k-means (farthest-point init) -> [k, D] normalised centres."""
    x = torch.nn.functional.normalize(x.float(), dim=-1)
    centres = [x[0]]
    for _ in range(1, k):
        sims = torch.stack([x @ c for c in centres], dim=1).max(dim=1).values
        centres.append(x[int(sims.argmin())])
    centres = torch.stack(centres)
    for _ in range(iters):
        assign = (x @ centres.t()).argmax(dim=1)
        new = torch.stack([x[assign == j].mean(0) if (assign == j).any() else centres[j] for j in range(k)])
        new = torch.nn.functional.normalize(new, dim=-1)
        if torch.allclose(new, centres):
            break
        centres = new
    return centres


def compress_tokens(tokens: torch.Tensor, own: int, class_feats: torch.Tensor, k: int, keep: int,
                    iters: int = 20) -> torch.Tensor:
    """One guidance token from many sentence embeddings of one (a, b, kind) group.

    With at least ``k`` sentences: k-means into ``k`` centres, score each centre by discriminability
    (cosine to the class text of ``own`` minus the largest cosine to any other class text), keep the
    ``keep`` best and average them. Otherwise the plain mean. Returned normalised.
    """
    if tokens.shape[0] >= k > 1:
        centres = kmeans(tokens, k, iters)
        sims = centres @ torch.nn.functional.normalize(class_feats.float(), dim=-1).t()
        others = sims.clone()
        others[:, own] = float("-inf")
        disc = sims[:, own] - others.max(dim=1).values
        chosen = centres[disc.topk(min(keep, k)).indices]
        mean = chosen.mean(0)
    else:
        mean = tokens.float().mean(0)
    return torch.nn.functional.normalize(mean, dim=-1)


# ------------------------------------------------------------------------------------------ encoding
def guidance_key(classnames, texts: dict, encoder_id: str, class_feats: torch.Tensor, k: int,
                 keep: int) -> str:
    """Hash of everything the guidance tensor depends on (texts, encoder, class features, k-means)."""
    h = hashlib.sha256()
    payload = {"classes": list(classnames), "encoder": encoder_id, "k": k, "keep": keep,
               "texts": [[a, b, texts[(a, b)]] for a, b in sorted(texts)]}
    h.update(json.dumps(payload, sort_keys=True).encode())
    h.update(class_feats.float().cpu().numpy().round(5).tobytes())
    return h.hexdigest()[:20]


@torch.no_grad()
def encode_guidance(texts: dict, num_classes: int, encode_fn, class_feats: torch.Tensor, k: int, keep: int,
                    iters: int = 20, chunk: int = 256) -> torch.Tensor:
    """Guidance tokens [2, C, C, D] (kind: diff, common) for every ordered pair (a, b), a != b.

    ``encode_fn(list[str]) -> [n, D]`` is the frozen teacher text encoder (no learned prompts).
    The diagonal stays zero (a class never pairs with itself).
    """
    flat, owners = [], []
    for (a, b), group in sorted(texts.items()):
        for kind_index, kind in enumerate(KINDS):
            for sentence in group[kind]:
                flat.append(sentence)
                owners.append((kind_index, a, b))
    feats = torch.cat([encode_fn(flat[i:i + chunk]).float().cpu() for i in range(0, len(flat), chunk)])
    feats = torch.nn.functional.normalize(feats, dim=-1)
    dim = feats.shape[-1]
    out = torch.zeros(len(KINDS), num_classes, num_classes, dim)
    groups: dict[tuple[int, int, int], list[int]] = {}
    for row, owner in enumerate(owners):
        groups.setdefault(owner, []).append(row)
    for (kind_index, a, b), rows in groups.items():
        out[kind_index, a, b] = compress_tokens(feats[rows], a, class_feats.cpu(), k, keep, iters)
    return out


def load_or_encode_guidance(classnames, cache_dir: str, encoder_id: str, encode_fn, class_feats,
                            pair_file: str = "", desc_file: str = "", templates=None, k: int = 5,
                            keep: int = 3, iters: int = 20) -> torch.Tensor:
    """Guidance for ``classnames``, from the disk cache when its key matches, else encoded and cached."""
    texts = pair_texts(classnames, pair_file=pair_file, desc_file=desc_file, templates=templates)
    key = guidance_key(classnames, texts, encoder_id, class_feats, k, keep)
    path = os.path.join(cache_dir, f"sem_guidance_{key}.pt") if cache_dir else ""
    if path and os.path.isfile(path):
        logger.info(f"SEM guidance: loaded from cache {path}")
        return torch.load(path, map_location="cpu", weights_only=True)
    n_texts = sum(len(v[kind]) for v in texts.values() for kind in KINDS)
    logger.info(f"SEM guidance: encoding {n_texts} pair texts for {len(classnames)} classes")
    guidance = encode_guidance(texts, len(classnames), encode_fn, class_feats, k, keep, iters)
    if path:
        save_torch_atomic(guidance, path)
    return guidance


def gather_guidance(guidance: torch.Tensor, pseudo: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    """Guidance of each query's pairs (p, j): [B, 2, K, D] (difference tokens, then commonality tokens)."""
    g = guidance.to(pseudo.device)
    a = pseudo[:, None].expand_as(pairs)
    return torch.stack([g[0][a, pairs], g[1][a, pairs]], dim=1)
