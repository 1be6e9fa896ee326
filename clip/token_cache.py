"""Token ids of texts tokenized before, kept in a JSON file so that a run whose prompts are all known does not
load the BPE (open_clip's tokenizer module, ftfy and the 49k merges: a noticeable part of a second at
every start, for a handful of class prompts).

The file is ``$CLIP_TOKEN_CACHE`` (default ``cache/clip_token_ids.json`` under the working folder, next to
the other caches; an empty value disables it). It records which vocabulary and cleaning code made its ids
(size and modification time of open_clip's tokenizer module, its merges file and ftfy's package); a file
made by others is ignored and rewritten. It is written atomically, only when new texts were tokenized, and
stops growing at :data:`MAX_TEXTS` texts.
"""

from __future__ import annotations

import importlib.util
import json
import os

ENV = "CLIP_TOKEN_CACHE"
DEFAULT_PATH = os.path.join("cache", "clip_token_ids.json")
MAX_TEXTS = 20_000
VOCABULARY_FILE = "bpe_simple_vocab_16e6.txt.gz"


def _stamp(path: str | None) -> list | None:
    if not path or not os.path.isfile(path):
        return None
    info = os.stat(path)
    return [os.path.abspath(path), info.st_size, info.st_mtime_ns]


def tokenizer_key(open_clip_folder: str | None) -> list | None:
    """What the ids depend on, or None when it cannot be told (then nothing is cached)."""
    ftfy = importlib.util.find_spec("ftfy")
    files = [
        os.path.join(open_clip_folder, "tokenizer.py") if open_clip_folder else None,
        os.path.join(open_clip_folder, VOCABULARY_FILE) if open_clip_folder else None,
        ftfy.origin if ftfy is not None else None,
    ]
    stamps = [_stamp(path) for path in files]
    return None if any(stamp is None for stamp in stamps) else stamps


class TokenCache:
    """``text -> ids`` read from ``path`` if made with ``key``; :meth:`save` writes what was added."""

    def __init__(self, path: str, key: list | None):
        self.path, self.key = path, key
        self.ids: dict[str, list[int]] = {}
        self.added = False
        if path and key is not None and os.path.isfile(path):
            try:
                with open(path, encoding="utf-8") as f:
                    stored = json.load(f)
            except (OSError, ValueError):
                stored = None  # unreadable: rewritten at the next save
            if isinstance(stored, dict) and stored.get("key") == key and isinstance(stored.get("ids"), dict):
                self.ids = stored["ids"]

    def get(self, text: str) -> list[int] | None:
        return self.ids.get(text)

    def add(self, text: str, ids: list[int]) -> None:
        if self.path and self.key is not None and len(self.ids) < MAX_TEXTS:
            self.ids[text] = list(ids)
            self.added = True

    def save(self) -> None:
        if not self.added:
            return
        folder = os.path.dirname(self.path)
        try:
            # imported here: ``clip`` itself does not need the training engine (see clip.config)
            from dassl.atomic_io import write_json_atomic
        except ImportError:
            return
        try:
            if folder:
                os.makedirs(folder, exist_ok=True)
            write_json_atomic({"key": self.key, "ids": self.ids}, self.path, indent=None)
        except OSError:
            return  # a read-only working folder: tokenizing works without the cache
        self.added = False


def cache_path() -> str:
    return os.environ.get(ENV, DEFAULT_PATH)
