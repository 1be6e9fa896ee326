"""Configuration: Dassl defaults, per-module hooks and checked merging."""

from . import engine_keys  # noqa: F401  (registers the engine's own keys)
from .defaults import clean_cfg, get_cfg_default
from .hooks import add_cfg_node, cfg_hook, extend_cfg, registered_cfg_hooks
from .merge import ConfigKeyError, flatten_cfg_keys, merge_cfg_from_file, merge_cfg_from_list
from .pixel_stats import pixel_stats, pixel_stats_source, resolve_pixel_stats

__all__ = [
    "ConfigKeyError",
    "add_cfg_node",
    "cfg_hook",
    "clean_cfg",
    "extend_cfg",
    "flatten_cfg_keys",
    "get_cfg_default",
    "merge_cfg_from_file",
    "merge_cfg_from_list",
    "pixel_stats",
    "pixel_stats_source",
    "registered_cfg_hooks",
    "resolve_pixel_stats",
]
