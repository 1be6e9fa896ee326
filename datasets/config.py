"""Config keys owned by the datasets package."""

from dassl.config import add_cfg_node, cfg_hook


@cfg_hook
def add_dataset_cfg(cfg) -> None:
    # all | base | new: which half of the classes a base-to-new run sees (datasets.splits.subsample_classes).
    add_cfg_node(cfg, "DATASET", {"SUBSAMPLE_CLASSES": "all"})
