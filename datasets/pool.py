"""The DPC-family image pool (``SPLE_<Name>.json``) built from a dataset's canonical split.

Format::

    {"train": [{classname: [label, [relative_path, ...]], ...}],
     "val":   [{classname: [label, [relative_path, ...]], ...}],
     "train_obj_list": [classname, ...], "val_obj_list": [classname, ...]}

Class names are the cleaned names of the split, labels the full-class-set labels, paths relative to the
dataset's split prefix (its image folder; the dataset folder for StanfordCars). The content is the canonical
train and val splits grouped by class, so a missing pool file can always be derived; only ``train`` may be
used for training.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict

from dassl.atomic_io import write_json_atomic
from dassl.data.datasets import DATASET_REGISTRY
from dassl.utils import read_json

from .base import CoOpDataset
from .splits import relative_path

log = logging.getLogger(__name__)


def group_by_class(items, prefix: str) -> dict:
    """``{classname: [label, [relative paths]]}`` in label order, paths in split order."""
    by_label = defaultdict(list)
    names = {}
    for item in items:
        by_label[item.label].append(relative_path(item.impath, prefix))
        names.setdefault(item.label, item.classname)
    out = {}
    for label in sorted(by_label):
        name = names[label]
        if name in out:
            raise ValueError(f"Class name {name!r} is used by labels {out[name][0]} and {label}")
        out[name] = [label, by_label[label]]
    return out


def build_pool(train, val, prefix: str) -> dict:
    train_groups, val_groups = group_by_class(train, prefix), group_by_class(val, prefix)
    return {
        "train": [train_groups],
        "val": [val_groups],
        "train_obj_list": list(train_groups),
        "val_obj_list": list(val_groups),
    }


def pool_from_dataset(dataset: CoOpDataset) -> dict:
    """Pool of a dataset object (constructed or :meth:`CoOpDataset.located`), from its full split."""
    if not isinstance(dataset, CoOpDataset):
        raise TypeError(f"{type(dataset).__name__} has no train/val split to build an image pool from")
    train, val, test = dataset.load_splits()
    # ImageNet has no val split; like its data wiring, its test images stand in for it.
    return build_pool(train, test if val is None else val, dataset.split_prefix)


def pool_from_cfg(cfg) -> dict:
    """Pool of ``cfg.DATASET.NAME`` under ``cfg.DATASET.ROOT`` (full split; no few-shot or subsampling)."""
    name = cfg.DATASET.NAME
    if name not in DATASET_REGISTRY.registered_names():
        raise KeyError(
            f"Unknown DATASET.NAME {name!r}; registered: {sorted(DATASET_REGISTRY.registered_names())}"
        )
    cls = DATASET_REGISTRY.get(name)
    if not (isinstance(cls, type) and issubclass(cls, CoOpDataset)):
        raise TypeError(f"{name} is a test-only dataset without train/val splits; it has no image pool")
    return pool_from_dataset(cls.located(cfg.DATASET.ROOT, cfg.DATASET.get("CACHE_DIR", ""), cfg.SEED))


def check_pool(pool, source: str) -> dict:
    """Validate the pool layout; return it unchanged."""
    if not isinstance(pool, dict):
        raise ValueError(f"{source}: the image pool must be a JSON object, got {type(pool).__name__}")
    for key in ("train", "val"):
        part = pool.get(key)
        if not (isinstance(part, list) and len(part) == 1 and isinstance(part[0], dict)):
            raise ValueError(
                f'{source}: "{key}" must be a one-element list holding {{classname: [label, paths]}}'
            )
        for name, value in part[0].items():
            if not (isinstance(value, list) and len(value) == 2 and isinstance(value[1], list)):
                raise ValueError(f'{source}: "{key}" entry {name!r} must be [label, [relative paths]]')
    return pool


def write_pool(pool: dict, path: str) -> None:
    write_json_atomic(check_pool(pool, path), path)


def load_or_build_pool(path: str | None, cfg) -> dict:
    """The pool file at ``path`` (``SPLE.PIC_LIB``) when it exists, else derived from the dataset split."""
    if path and os.path.isfile(path):
        return check_pool(read_json(path), path)
    where = f"{path} not found; " if path else ""
    log.info(f"Image pool: {where}deriving it from the split of {cfg.DATASET.NAME}")
    return pool_from_cfg(cfg)
