"""Commonality / difference texts for every ordered class pair (a, b), from files or templates.

Sources, in priority order for each pair:

1. a pair file ``{a: {b: {"common": [...], "diff": [...]}}}`` (e.g. written by
   ``tools.confusion.make_pair_prompts`` from a chat model);
2. a description file ``{class: [attribute sentences]}``: commonality = attributes both classes list,
   difference = attributes of ``a`` that ``b`` does not list;
3. the templates (``CAPT.SEM.COMMON_TEMPLATE`` / ``DIFF_TEMPLATE`` with ``{a}`` and ``{b}``).

A kind left empty by one source is filled by the next, so every pair always has both kinds.
Class names are matched with ``_`` or spaces; texts use spaces.
"""

from __future__ import annotations

import json
import logging
import os

log = logging.getLogger(__name__)

DEFAULT_TEMPLATES = {"common": "a photo of a {a} or a {b}.", "diff": "a photo of a {a}, not a {b}."}


def _clean(name: str) -> str:
    return name.replace("_", " ")


def _lookup(table: dict, name: str):
    for key in (name, _clean(name), name.lower(), _clean(name).lower()):
        if key in table:
            return table[key]
    return None


def _read_json(path: str, what: str):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} not found: {path}")
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f"{what} {path} is not valid JSON: {err}") from None


def _string_list(value, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise ValueError(f"{where} must be a list of strings, got {value!r}")
    return [s.strip() for s in value if s.strip()]


def load_pair_file(path: str) -> dict:
    """Validated ``{a: {b: {"common": [...], "diff": [...]}}}``."""
    data = _read_json(path, "CAPT.SEM.PAIR_FILE")
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected an object {{class: {{class: {{common, diff}}}}}}")
    for a, row in data.items():
        if not isinstance(row, dict):
            raise ValueError(f"{path}: entry {a!r} must be an object keyed by the second class")
        for b, kinds in row.items():
            if not isinstance(kinds, dict):
                raise ValueError(f"{path}: entry {a!r} -> {b!r} must be an object with 'common' and 'diff'")
            for kind, value in kinds.items():
                if kind not in ("common", "diff"):
                    raise ValueError(f"{path}: entry {a!r} -> {b!r} has unknown kind {kind!r}")
                _string_list(value, f"{path}: {a!r} -> {b!r} -> {kind!r}")
    return data


def load_desc_file(path: str) -> dict:
    """Validated ``{class: [sentences]}``."""
    data = _read_json(path, "CAPT.SEM.DESC_FILE")
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected an object {{class: [attribute sentences]}}")
    return {k: _string_list(v, f"{path}: entry {k!r}") for k, v in data.items()}


def _norm_attr(s: str) -> str:
    return s.strip().rstrip(".").lower()


def desc_pair(a: str, b: str, attrs_a: list[str], attrs_b: list[str]) -> dict:
    """Compose the two kinds of texts of (a, b) from attribute sentences."""
    seen_b = {_norm_attr(s) for s in attrs_b}
    shared = [s for s in attrs_a if _norm_attr(s) in seen_b]
    own = [s for s in attrs_a if _norm_attr(s) not in seen_b]
    ca, cb = _clean(a), _clean(b)
    return {
        "common": [f"a photo of a {ca} or a {cb}: {s.rstrip('.')}." for s in shared],
        "diff": [f"a photo of a {ca}, not a {cb}: {s.rstrip('.')}." for s in own],
    }


def pair_texts(classnames, pair_file: str = "", desc_file: str = "", templates=None) -> dict:
    """``{(ia, ib): {"common": [...], "diff": [...]}}`` for every ordered pair of distinct classes."""
    templates = dict(DEFAULT_TEMPLATES, **(templates or {}))
    pairs = load_pair_file(pair_file) if pair_file else {}
    descs = load_desc_file(desc_file) if desc_file else {}
    if descs:
        missing = [c for c in classnames if _lookup(descs, c) is None]
        if missing:
            log.info(f"SEM: {desc_file} has no descriptions for {missing}; their pairs use the templates")
    out = {}
    for ia, a in enumerate(classnames):
        for ib, b in enumerate(classnames):
            if ia == ib:
                continue
            texts = {"common": [], "diff": []}
            from_file = _lookup(_lookup(pairs, a) or {}, b) or {}
            for kind in texts:
                texts[kind] = list(from_file.get(kind, []))
            attrs_a, attrs_b = _lookup(descs, a), _lookup(descs, b)
            if attrs_a is not None and attrs_b is not None:
                composed = desc_pair(a, b, attrs_a, attrs_b)
                for kind in texts:
                    texts[kind] = texts[kind] or composed[kind]
            for kind in texts:
                if not texts[kind]:
                    texts[kind] = [templates[kind].format(a=_clean(a), b=_clean(b))]
            out[(ia, ib)] = texts
    return out
