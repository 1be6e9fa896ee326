"""Textual class information (TCI): the frozen CLIP text feature of each class name.

``w_c = encode_text(tokenize(template.format(name)))`` with the dataset's single template (underscores in
names become spaces), not L2-normalised, returned as fp32. The features depend only on the text tower,
the template and the class list, so they can be cached; the cache key covers exactly these (plus the
precision the tower ran in and a format version), and every cache file also stores its key, which is
compared on load - a changed backbone, template or class list can never reuse stale vectors.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os

import torch

from clip.class_text import encode_class_texts
from dassl.utils import save_torch_atomic

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
TEXT_TOWER_PREFIXES = ("token_embedding.", "positional_embedding", "transformer.", "ln_final.",
                       "text_projection")


def extract_tci(clip_model, classnames: list[str], template: str) -> torch.Tensor:
    """Text features [C, D] (fp32, CPU) of the class sentences through ``clip_model`` (no gradient)."""
    return encode_class_texts(clip_model, template, classnames, normalize_each=False, normalize=False).cpu()


def text_tower_fingerprint(clip_model) -> str:
    """A hash of every text-tower tensor (name, dtype, shape and bytes): equal only for equal weights."""
    digest = hashlib.blake2b(digest_size=16)
    for name, tensor in sorted(clip_model.state_dict().items()):
        if not name.startswith(TEXT_TOWER_PREFIXES):
            continue
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def cache_key(fingerprint: str, template: str, classnames: list[str], mode: str = "clip") -> dict:
    """Everything the TCI vectors depend on."""
    return {"format": CACHE_FORMAT, "mode": mode, "backbone": fingerprint, "template": template,
            "classnames": list(classnames)}


def key_digest(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


class TCICache:
    """TCI vectors stored under ``directory`` as ``<label>_<digest>.pt`` (written atomically).

    ``label`` only makes the file names readable (e.g. ``clip_base_DescribableTextures``); the digest of
    the full key decides which file is used, and the stored key must match exactly.
    """

    def __init__(self, directory: str):
        self.directory = directory

    def path(self, key: dict, label: str = "tci") -> str:
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in label)
        return os.path.join(self.directory, f"{safe}_{key_digest(key)}.pt")

    def load(self, key: dict, label: str = "tci") -> torch.Tensor | None:
        path = self.path(key, label)
        if not os.path.exists(path):
            return None
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # a truncated or foreign file: recompute rather than fail
            log.warning(f"Ignoring unreadable TCI cache {path} ({type(err).__name__}: {err})")
            return None
        if not isinstance(data, dict) or data.get("key") != key:
            log.warning(f"Ignoring TCI cache {path}: it was written for a different "
                        "backbone/template/class list")
            return None
        log.info(f"Loading wordvecs from cache {path}...")
        return data["tci"].float()

    def save(self, key: dict, tci: torch.Tensor, label: str = "tci") -> str:
        path = self.path(key, label)
        os.makedirs(self.directory, exist_ok=True)
        log.info(f"Saving base wordvecs to {path}...")
        save_torch_atomic({"key": key, "tci": tci.detach().float().cpu()}, path)
        return path


def load_or_extract_tci(clip_model, classnames: list[str], template: str, cache_dir: str = "",
                        label: str = "tci") -> torch.Tensor:
    """TCI of ``classnames``: from the cache when a matching entry exists, else extracted (and cached).

    An empty ``cache_dir`` disables caching.
    """
    if not cache_dir:
        return extract_tci(clip_model, classnames, template)
    cache = TCICache(cache_dir)
    key = cache_key(text_tower_fingerprint(clip_model), template, classnames)
    tci = cache.load(key, label)
    if tci is None:
        tci = extract_tci(clip_model, classnames, template)
        cache.save(key, tci, label)
    return tci
