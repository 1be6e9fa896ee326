"""Split files, split generation, few-shot caches and base/new subsampling shared by every dataset.

The behaviour follows the CoOp data pipeline so that the published ``split_zhou_<Name>.json`` files and
``split_fewshot/shot_<K>-seed_<S>.pkl`` caches made by the CoOp-family repositories keep working, and so that
the same seed draws the same few-shot sample. Randomness comes from Python's global ``random`` module on
purpose: that is what makes the draws match the upstream code.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence

from dassl.atomic_io import write_json_atomic, write_pickle_atomic
from dassl.data.datasets import Datum
from dassl.utils import UnsafeFileError, listdir_nohidden, load_datum_pickle, read_json

log = logging.getLogger(__name__)

SUBSAMPLE_CHOICES = ("all", "base", "new")

# Lists loaded from pickles are checked on at most this many evenly spaced paths (ImageNet's train list has
# 1.28 M files and is re-read on every run). Split files are always checked in full.
PICKLE_CHECK_LIMIT = 50_000
_SHOWN_MISSING = 5


# --------------------------------------------------------------------------------------------------------
# Existence checks
# --------------------------------------------------------------------------------------------------------
class MissingImagesError(FileNotFoundError):
    """Raised when image files named by a split, an annotation file or a cache are not on disk."""

    def __init__(self, message: str, missing: Sequence[str], total: int):
        super().__init__(message)
        self.missing = list(missing)
        self.total = total


def find_missing(paths: Sequence[str], limit: int | None = None) -> tuple[list[str], int]:
    """Return (missing paths, number checked); ``limit`` caps the check to that many evenly spaced paths."""
    if limit is not None and len(paths) > limit:
        step = len(paths) / limit
        sample = [paths[int(i * step)] for i in range(limit)]
    else:
        sample = list(paths)
    # (folder, name) by one string split per path: os.path.dirname and basename cost several times more,
    # and both are needed twice per path on lists of tens of thousands at every start
    if os.altsep:  # either separator may appear (Windows)
        parts = [(os.path.dirname(p), os.sep, os.path.basename(p)) for p in sample]
    else:
        parts = [p.rpartition(os.sep) for p in sample]
    listed = _listed_files(parts)
    missing = []
    for path, (folder, _, name) in zip(sample, parts):
        names = listed.get(folder)
        if not (name in names if names is not None else os.path.isfile(path)):
            missing.append(path)
    return missing, len(sample)


# A folder holding at least this many of the checked paths is listed once instead of one ``stat`` per path
# (tens of thousands of stats take a noticeable part of a second at every start).
_LIST_FOLDER_FROM = 64


def _listed_files(parts: Sequence[tuple[str, str, str]]) -> dict[str, set[str]]:
    """File names (files and links to files) of every folder holding many of the paths split in ``parts``
    (``path.rpartition(os.sep)``)."""
    per_folder: dict[str, int] = {}
    for folder, _, _ in parts:
        per_folder[folder] = per_folder.get(folder, 0) + 1
    listed = {}
    for folder, count in per_folder.items():
        if count < _LIST_FOLDER_FROM or not folder or not os.path.isdir(folder):
            continue
        with os.scandir(folder) as entries:
            listed[folder] = {e.name for e in entries if e.is_file()}
    return listed


def check_files_exist(
    paths: Sequence[str], source: str, hint: str = "", parts: dict | None = None, limit: int | None = None
) -> None:
    """Raise :class:`MissingImagesError` naming how many of ``paths`` are missing and a few of them.

    ``parts`` optionally maps a list name (``train``, ``val``, ``test``) to its paths, all of which are in
    ``paths``; the message then also gives the count per list. ``limit`` as in :func:`find_missing`.
    """
    missing, checked = find_missing(paths, limit)
    if not missing:
        return
    shown = "\n  ".join(missing[:_SHOWN_MISSING])
    more = f"\n  ... and {len(missing) - _SHOWN_MISSING} more" if len(missing) > _SHOWN_MISSING else ""
    scope = f"{checked:,} checked of {len(paths):,}" if checked < len(paths) else f"{len(paths):,}"
    message = f"{len(missing):,} of the {scope} image files listed by {source} do not exist"
    if parts:
        lost = set(missing)
        counts = {name: sum(p in lost for p in group) for name, group in parts.items()}
        message += (
            " (" + ", ".join(f"{name}: {n:,} of {len(parts[name]):,}" for name, n in counts.items()) + ")"
        )
    message += f":\n  {shown}{more}"
    if hint:
        message += "\n" + hint
    raise MissingImagesError(message, missing, len(paths))


def make_items(records: Iterable[tuple[str, int, str]], source: str, hint: str = "") -> list[Datum]:
    """Turn ``(absolute path, label, classname)`` records into ``Datum`` objects after one existence check.

    The check covers every file at once, so a missing file gives one message that counts all missing files
    (rather than ``Datum``'s assertion on the first), and the items are made without checking again.
    """
    records = list(records)
    check_files_exist([r[0] for r in records], source, hint)
    return [Datum.of_checked_file(path, int(label), classname=name) for path, label, name in records]


# --------------------------------------------------------------------------------------------------------
# Split JSON
# --------------------------------------------------------------------------------------------------------
def _split_entries(split, filepath: str, key: str) -> list:
    if key not in split:
        raise KeyError(f'Split file {filepath} has no "{key}" list (expected keys "train", "val", "test")')
    entries = split[key]
    if not isinstance(entries, list):
        raise ValueError(f'Split file {filepath}: "{key}" must be a list, got {type(entries).__name__}')
    for i, entry in enumerate(entries):
        if not isinstance(entry, (list, tuple)) or len(entry) != 3:
            raise ValueError(
                f'Split file {filepath}: entry {i} of "{key}" is {entry!r}; '
                "expected [relative_path, label, classname]"
            )
    return entries


def read_split(
    filepath: str, path_prefix: str, hint: str = ""
) -> tuple[list[Datum], list[Datum], list[Datum]]:
    """Read ``split_zhou_<Name>.json``; paths in it are relative to ``path_prefix``."""
    log.info(f"Reading split from {filepath}")
    try:
        split = read_json(filepath)
    except json.JSONDecodeError as err:
        raise ValueError(f"Split file {filepath} is not valid JSON: {err}") from err
    if not isinstance(split, dict):
        raise ValueError(f'Split file {filepath} must hold a JSON object with "train", "val", "test"')
    records = {
        key: [(os.path.join(path_prefix, p), int(y), c) for p, y, c in _split_entries(split, filepath, key)]
        for key in ("train", "val", "test")
    }
    groups = {key: [r[0] for r in recs] for key, recs in records.items()}
    every = [p for group in groups.values() for p in group]
    check_files_exist(every, f"{filepath} (relative to {path_prefix})", hint, parts=groups)
    out = [
        [Datum.of_checked_file(p, y, classname=c) for p, y, c in records[key]]
        for key in ("train", "val", "test")
    ]
    return out[0], out[1], out[2]


def relative_path(impath: str, prefix: str) -> str:
    prefix = prefix.rstrip("/\\")
    if not impath.startswith(prefix + os.sep) and not impath.startswith(prefix + "/"):
        raise ValueError(f"Cannot save {impath} in a split file: it is not under {prefix}")
    return impath[len(prefix) :].lstrip("/\\").replace(os.sep, "/")


def save_split(train, val, test, filepath: str, path_prefix: str, generated: dict | None = None) -> None:
    """Write the three lists as ``[relative_path, label, classname]`` triples (atomically).

    ``generated`` (how a split made here was drawn) is stored under the extra key ``"generated"``, which
    split readers ignore.
    """

    def _triples(items):
        return [(relative_path(d.impath, path_prefix), d.label, d.classname) for d in items]

    split = {"train": _triples(train), "val": _triples(val), "test": _triples(test)}
    if generated is not None:
        split["generated"] = dict(generated)
    with cache_write(filepath, "split file"):
        write_json_atomic(split, filepath)
    log.info(f"Saved split to {filepath}")


# --------------------------------------------------------------------------------------------------------
# Split generation when no split file exists
# --------------------------------------------------------------------------------------------------------
def split_trainval(trainval: Sequence[Datum], p_val: float = 0.2) -> tuple[list[Datum], list[Datum]]:
    """Per label (first-seen order): shuffle, the first ``round(n * p_val)`` go to val, the rest to train."""
    log.info(f"Splitting trainval into {1 - p_val:.0%} train and {p_val:.0%} val")
    by_label = defaultdict(list)
    for idx, item in enumerate(trainval):
        by_label[item.label].append(idx)
    train, val = [], []
    for label, idxs in by_label.items():
        n_val = round(len(idxs) * p_val)
        if n_val <= 0:
            raise ValueError(
                f"Label {label} has only {len(idxs)} train+val images; "
                f"{p_val:.0%} of them rounds to 0 val images"
            )
        random.shuffle(idxs)
        val.extend(trainval[i] for i in idxs[:n_val])
        train.extend(trainval[i] for i in idxs[n_val:])
    return train, val


def split_per_class(paths: Sequence[str], p_trn: float, p_val: float, what: str) -> tuple[list, list, list]:
    """Shuffle one class's files and cut them ``round(n * p_trn)`` / ``round(n * p_val)`` / rest."""
    paths = list(paths)
    random.shuffle(paths)
    n_total = len(paths)
    n_train = round(n_total * p_trn)
    n_val = round(n_total * p_val)
    n_test = n_total - n_train - n_val
    if n_train <= 0 or n_val <= 0 or n_test <= 0:
        raise ValueError(
            f"{what} has {n_total} images, which gives {n_train}/{n_val}/{n_test} train/val/test; "
            "each part needs at least one image"
        )
    return paths[:n_train], paths[n_train : n_train + n_val], paths[n_train + n_val :]


def read_and_split_data(
    image_dir: str,
    p_trn: float = 0.5,
    p_val: float = 0.2,
    ignored: Iterable[str] = (),
    new_cnames: dict | None = None,
) -> tuple[list[Datum], list[Datum], list[Datum]]:
    """Split a ``<class>/<image>`` folder tree 50/20/30 per class.

    Classes are the non-hidden entries of ``image_dir`` minus ``ignored``, in plain string order (upper
    case first); the label is the index in that order. Files inside a class folder are sorted before the
    shuffle (upstream used the file system's order, which differs between machines).
    """
    ignored = set(ignored)
    categories = sorted(c for c in listdir_nohidden(image_dir) if c not in ignored)
    log.info(f"Splitting into {p_trn:.0%} train, {p_val:.0%} val, and {1 - p_trn - p_val:.0%} test")
    train, val, test = [], [], []
    for label, category in enumerate(categories):
        category_dir = os.path.join(image_dir, category)
        files = [os.path.join(category_dir, f) for f in sorted(listdir_nohidden(category_dir))]
        parts = split_per_class(files, p_trn, p_val, f"Class folder {category_dir}")
        name = new_cnames.get(category, category) if new_cnames else category
        for items, part in zip((train, val, test), parts):
            items.extend(Datum(impath=p, label=label, classname=name) for p in part)
    return train, val, test


# --------------------------------------------------------------------------------------------------------
# Few-shot sampling and its cache
# --------------------------------------------------------------------------------------------------------
def fewshot_cache_path(split_fewshot_dir: str, num_shots: int, seed: int, suffix: str = ".pkl") -> str:
    """``<split_fewshot_dir>/shot_<K>-seed_<S><suffix>``; unseeded runs use seed -1 like upstream."""
    return os.path.join(split_fewshot_dir, f"shot_{num_shots}-seed_{seed}{suffix}")


def find_fewshot_file(dirs: Sequence[str], num_shots: int, seed: int, suffix: str = ".pkl") -> str:
    """The first existing ``shot_<K>-seed_<S><suffix>`` in ``dirs``, else its path in ``dirs[0]``.

    ``dirs`` lists where this run writes caches first, then the upstream ``<dataset>/split_fewshot`` (see
    ``DATASET.CACHE_DIR``), so caches published inside a data tree keep working.
    """
    paths = [fewshot_cache_path(d, num_shots, seed, suffix) for d in dirs]
    return next((p for p in paths if os.path.exists(p)), paths[0])


class CacheWriteError(OSError):
    """A cache or generated split could not be written (typically a read-only data tree)."""


@contextlib.contextmanager
def cache_write(path: str, what: str):
    """Turn a failed write of ``what`` at ``path`` into an error that says how to put caches elsewhere."""
    try:
        yield
    except OSError as err:
        if isinstance(err, CacheWriteError):
            raise
        raise CacheWriteError(
            f"Cannot write the {what} {path} ({err.strerror or err}). If the data folder is read-only or "
            "shared, set DATASET.CACHE_DIR to a writable folder (caches and generated splits go to "
            "<CACHE_DIR>/<dataset folder>/; existing caches in the data folder are still read)."
        ) from err


def sample_fewshot(items: Sequence[Datum], num_shots: int) -> list[Datum]:
    """Per label (first-seen order) draw ``num_shots`` items with ``random.sample`` (all if fewer).

    Same draws as Dassl's ``DatasetBase.generate_fewshot_dataset`` for one source without ``repeat``.
    """
    if num_shots < 1:
        return list(items)
    log.info(f"Creating a {num_shots}-shot dataset")
    by_label = defaultdict(list)
    for item in items:
        by_label[item.label].append(item)
    out = []
    for group in by_label.values():
        out.extend(random.sample(group, num_shots) if len(group) >= num_shots else group)
    return out


def _datum_path(item) -> str:
    try:
        return item.impath
    except AttributeError as err:
        raise TypeError(f"Expected Datum objects in the cache, found {type(item).__name__}") from err


def _is_under(path: str, folder: str) -> bool:
    folder = os.path.abspath(folder)
    return os.path.abspath(path).startswith(folder.rstrip(os.sep) + os.sep)


def rebase_items(items: list[Datum], dataset_dir: str, source: str) -> list[Datum]:
    """Move absolute paths of a moved or copied data root onto ``dataset_dir``, matching their trailing part.

    Few-shot caches and ImageNet's ``preprocessed.pkl`` store absolute paths. When a path is not below
    ``dataset_dir`` (whether or not the old file still exists: ``--root`` wins), the longest trailing
    part of it that exists below ``dataset_dir`` gives an old-prefix -> new-prefix rule, which is then
    applied to every path with that prefix. Paths that cannot be matched are left as they are (the caller
    reports them).
    """
    dataset_dir = os.path.abspath(dataset_dir)
    paths = [_datum_path(d) for d in items]
    mapping: dict[str, str] = {}
    unresolved: set[str] = set()
    for path in paths:
        if _is_under(path, dataset_dir) or any(path.startswith(old) for old in mapping) or path in unresolved:
            continue
        parts = path.replace("\\", "/").split("/")
        for n in range(len(parts) - 1, 0, -1):
            if os.path.isfile(os.path.join(dataset_dir, *parts[-n:])):
                mapping["/".join(parts[:-n]) + "/"] = dataset_dir + os.sep
                break
        else:
            unresolved.add(path)
    if not mapping:
        return items
    out, moved = [], 0
    for item, path in zip(items, paths):
        norm = path.replace("\\", "/")
        old = next((o for o in mapping if norm.startswith(o)), None)
        if old is None or _is_under(path, dataset_dir):
            out.append(item)
            continue
        new_path = os.path.join(mapping[old], *norm[len(old) :].split("/"))
        if not os.path.isfile(new_path):
            out.append(item)
            continue
        out.append(Datum(impath=new_path, label=item.label, domain=item.domain, classname=item.classname))
        moved += 1
    for old, new in mapping.items():
        log.info(f"Rebased image paths in {source}: {old.rstrip('/')} -> {new.rstrip(os.sep)}")
    log.info(f"Rebased {moved:,} of {len(items):,} paths of {source} onto {dataset_dir}")
    return out


def load_pickled_items(path: str, keys: Sequence[str], dataset_dir: str, hint: str = "") -> dict:
    """Load a pickle holding ``{key: [Datum, ...]}``, rebase moved paths, and check the files exist."""
    try:
        data = load_datum_pickle(path)
    except UnsafeFileError:
        raise
    except Exception as err:
        raise ValueError(
            f"Cannot read the cache file {path} ({type(err).__name__}: {err}); delete it to have it rebuilt"
        ) from err
    if not isinstance(data, dict) or any(k not in data for k in keys):
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise ValueError(
            f"Cache file {path} must hold a dict with keys {list(keys)}, found {found}; "
            "delete it to have it rebuilt"
        )
    out = {}
    for key in keys:
        items = list(data[key])
        paths = [_datum_path(d) for d in items]
        # A moved or copied data root shows on any probe (a path outside --root, or a missing file); only
        # then pay for a per-file rebase. --root wins even while the old copy still exists.
        probe = paths[:: max(1, len(paths) // 1000)]
        if find_missing(probe)[0] or not all(_is_under(p, dataset_dir) for p in probe):
            items = rebase_items(items, dataset_dir, f'"{key}" of {path}')
            paths = [d.impath for d in items]
        check_files_exist(paths, f'the "{key}" list of {path}', hint, limit=PICKLE_CHECK_LIMIT)
        out[key] = items
    return out


def load_or_create_fewshot(
    path: str, train: list[Datum], val: list[Datum] | None, num_shots: int, dataset_dir: str, hint: str = ""
) -> tuple[list[Datum], list[Datum] | None]:
    """Return the few-shot ``train`` / ``val`` lists, from the cache file when present, else drawn and saved.

    ``val`` gets ``min(num_shots, 4)`` per class. With ``val=None`` (ImageNet) only ``{"train"}`` is stored.
    """
    keys = ("train",) if val is None else ("train", "val")
    if os.path.exists(path):
        log.info(f"Loading preprocessed few-shot data from {path}")
        data = load_pickled_items(path, keys, dataset_dir, hint)
        return data["train"], data.get("val")
    train = sample_fewshot(train, num_shots)
    data = {"train": train}
    if val is not None:
        val = sample_fewshot(val, min(num_shots, 4))
        data["val"] = val
    log.info(f"Saving preprocessed few-shot data to {path}")
    with cache_write(path, "few-shot cache"):
        write_pickle_atomic(data, path)
    return train, val


# --------------------------------------------------------------------------------------------------------
# Base / new classes
# --------------------------------------------------------------------------------------------------------
def num_base_classes(num_classes: int) -> int:
    """How many of ``num_classes`` sorted classes are base classes: the first ``ceil(n / 2)``, as in CoOp.

    The one rule for the base/new cut; datasets, trainers and tools that need the base count call it.
    """
    if num_classes < 0:
        raise ValueError(f"a class count must be non-negative, got {num_classes}")
    return math.ceil(num_classes / 2)


def base_new_labels(labels: Iterable[int]) -> tuple[list[int], list[int]]:
    """Sorted distinct labels cut into base (the first :func:`num_base_classes`) and new (the rest)."""
    labels = sorted(set(labels))
    m = num_base_classes(len(labels))
    return labels[:m], labels[m:]


def check_subsample(subsample: str) -> str:
    if subsample not in SUBSAMPLE_CHOICES:
        raise ValueError(
            f"DATASET.SUBSAMPLE_CLASSES must be one of {list(SUBSAMPLE_CHOICES)}, got {subsample!r}"
        )
    return subsample


def subsample_classes(*datasets: Sequence[Datum], subsample: str = "all") -> tuple:
    """Keep the base or new half of the classes of ``datasets[0]`` in every list, relabelled from 0.

    ``all`` returns the inputs unchanged. The relabelled items are new ``Datum`` objects (domain 0) and keep
    their class names (with underscores; prompt builders replace them).
    """
    check_subsample(subsample)
    if subsample == "all":
        return datasets
    base, new = base_new_labels(item.label for item in datasets[0])
    selected = base if subsample == "base" else new
    log.info(f"SUBSAMPLE {subsample.upper()} CLASSES!")
    relabel = {y: i for i, y in enumerate(selected)}
    return tuple(
        [
            Datum.of_checked_file(d.impath, relabel[d.label], classname=d.classname)
            for d in items
            if d.label in relabel
        ]
        for items in datasets
    )
