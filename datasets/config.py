"""Config keys owned by the datasets package."""

from dassl.config import add_cfg_node, cfg_hook


@cfg_hook
def add_dataset_cfg(cfg) -> None:
    # all | base | new: which half of the classes a base-to-new run sees (datasets.splits.subsample_classes).
    # Where few-shot caches, ImageNet's list cache and generated splits are written: "" = inside the dataset
    # folder (the upstream layout); else <CACHE_DIR>/<dataset folder>/, for read-only or shared data trees.
    # Caches already in the dataset folder are read either way (datasets.base.CoOpDataset).
    add_cfg_node(cfg, "DATASET", {"SUBSAMPLE_CLASSES": "all", "CACHE_DIR": ""})
