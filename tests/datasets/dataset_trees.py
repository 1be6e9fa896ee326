"""Helpers of the dataset tests: build a dataset from a synthetic tree (``datasets.synthetic``) the way
train.py does, and read what it holds."""

from __future__ import annotations


# ------------------------------------------------------------------------------------------------------
# Building datasets the way train.py does
# ------------------------------------------------------------------------------------------------------
def make_cfg(root, name, num_shots=-1, seed=1, subsample="all", trainer="", modal=None, cache_dir=""):
    import datasets  # noqa: F401  (registers the datasets and the config hook)
    from dassl.config import extend_cfg, get_cfg_default

    cfg = get_cfg_default()
    extend_cfg(cfg)
    cfg.DATASET.ROOT = str(root)
    cfg.DATASET.NAME = name
    cfg.DATASET.NUM_SHOTS = num_shots
    cfg.DATASET.SUBSAMPLE_CLASSES = subsample
    cfg.DATASET.CACHE_DIR = str(cache_dir)
    cfg.SEED = seed
    cfg.TRAINER.NAME = trainer
    if modal is not None:
        cfg.TRAINER.MODAL = modal
    cfg.VERBOSE = False
    return cfg


def build(root, name, wiring="coop", seed=1, **kwargs):
    """Seed the global RNG like train.py does, then build through Dassl's ``build_dataset``."""
    import random

    from dassl.data.datasets import build_dataset

    random.seed(seed)
    return build_dataset(make_cfg(root, name, seed=seed, **kwargs), wiring=wiring)


def paths(items) -> list[str]:
    return [d.impath for d in items]


def labels(items) -> list[int]:
    return [d.label for d in items]
