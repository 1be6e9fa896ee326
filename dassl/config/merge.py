"""Merging YAML files and ``KEY VALUE`` lists with helpful errors.

yacs already rejects unknown keys; these wrappers check first so the error
names the offending key, where it came from and the closest existing keys.
YAML files may start with ``_BASE_: other.yaml`` (path relative to the file,
or a list of paths): the bases are merged first, then the file itself.
"""

import difflib
import os.path as osp

import yaml
from yacs.config import CfgNode as CN

__all__ = ["ConfigKeyError", "merge_cfg_from_file", "merge_cfg_from_list", "flatten_cfg_keys"]

BASE_KEY = "_BASE_"


class ConfigKeyError(KeyError):
    """An override names a key the configuration does not have."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


def flatten_cfg_keys(cfg, prefix=""):
    """All leaf keys of ``cfg`` as dotted names."""
    keys = []
    for key, value in cfg.items():
        full = f"{prefix}.{key}" if prefix else key
        if isinstance(value, CN):
            keys.extend(flatten_cfg_keys(value, full))
        else:
            keys.append(full)
    return keys


def _closest_keys(full_key, cfg, n=3):
    candidates = flatten_cfg_keys(cfg)
    matches = difflib.get_close_matches(full_key, candidates, n=n, cutoff=0.6)
    if len(matches) < n:
        # Same leaf name under another node (e.g. TRAIN.MAX_EPOCH -> OPTIM.MAX_EPOCH).
        leaf = full_key.rsplit(".", 1)[-1]
        leaves = {c: c.rsplit(".", 1)[-1] for c in candidates}
        for c in candidates:
            if c not in matches and difflib.SequenceMatcher(None, leaf, leaves[c]).ratio() >= 0.8:
                matches.append(c)
            if len(matches) >= n:
                break
    return matches


def _unknown_key_error(full_key, cfg, source):
    close = _closest_keys(full_key, cfg)
    hint = f"; closest existing keys: {', '.join(close)}" if close else ""
    return ConfigKeyError(f"Unknown config key '{full_key}' (from {source}){hint}")


def _check_keys(loaded, cfg_node, root, source, prefix=""):
    for key, value in loaded.items():
        full = f"{prefix}.{key}" if prefix else str(key)
        if key not in cfg_node:
            if cfg_node.is_new_allowed():
                continue
            raise _unknown_key_error(full, root, source)
        if isinstance(value, dict) and isinstance(cfg_node[key], CN):
            _check_keys(value, cfg_node[key], root, source, full)


def _load_yaml_with_bases(path, seen=()):
    path = osp.abspath(path)
    if path in seen:
        raise ValueError(f"Config file '{path}' includes itself through {BASE_KEY}")
    if not osp.isfile(path):
        raise FileNotFoundError(f"Config file not found: '{path}'")
    with open(path) as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict):
        raise ValueError(f"Config file '{path}' must contain a mapping of keys, got {type(data).__name__}")
    bases = data.pop(BASE_KEY, None) or []
    if isinstance(bases, str):
        bases = [bases]
    chain = []
    for base in bases:
        base_path = base if osp.isabs(base) else osp.join(osp.dirname(path), base)
        chain.extend(_load_yaml_with_bases(base_path, seen + (path,)))
    chain.append((path, data))
    return chain


def merge_cfg_from_file(cfg, path):
    """Merge a YAML file (and its ``_BASE_`` files) into ``cfg``."""
    for file_path, data in _load_yaml_with_bases(path):
        _check_keys(data, cfg, cfg, f"file '{file_path}'")
        try:
            cfg.merge_from_other_cfg(CN(data))
        except (ValueError, AssertionError, KeyError) as e:
            raise type(e)(f"{e} (in file '{file_path}')") from e
    return cfg


def merge_cfg_from_list(cfg, opts, source="command line"):
    """Merge ``[KEY, VALUE, KEY, VALUE, ...]`` into ``cfg``."""
    opts = list(opts or [])
    if len(opts) % 2 != 0:
        raise ValueError(
            f"Config overrides from {source} must be KEY VALUE pairs, got an odd number of items: {opts}"
        )
    for full_key in opts[0::2]:
        node = cfg
        parts = str(full_key).split(".")
        for i, part in enumerate(parts):
            if not isinstance(node, CN) or part not in node:
                if isinstance(node, CN) and node.is_new_allowed() and i == len(parts) - 1:
                    break
                raise _unknown_key_error(str(full_key), cfg, source)
            node = node[part]
        if isinstance(node, CN):
            raise ValueError(f"Config key '{full_key}' (from {source}) is a node; give a leaf key")
    try:
        cfg.merge_from_list(opts)
    except (ValueError, AssertionError) as e:
        raise ValueError(f"{e} (from {source})") from e
    return cfg
