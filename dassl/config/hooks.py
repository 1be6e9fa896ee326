"""Config hooks: each module declares the keys it owns next to its code.

A hook is a function ``hook(cfg) -> None`` decorated with :func:`cfg_hook`;
it adds its keys with :func:`add_cfg_node`. ``train.py`` imports every trainer
and dataset module, then calls :func:`extend_cfg` once on the default tree,
before any YAML file or command-line override is merged. Example::

    from dassl.config import add_cfg_node, cfg_hook

    @cfg_hook
    def add_coop_cfg(cfg):
        add_cfg_node(cfg, "TRAINER.COOP", {"N_CTX": 16, "CTX_INIT": ""})
"""

from yacs.config import CfgNode as CN

__all__ = ["cfg_hook", "extend_cfg", "add_cfg_node", "registered_cfg_hooks"]

_HOOKS = {}


def cfg_hook(fn):
    """Register ``fn(cfg)`` to run in :func:`extend_cfg`; returns ``fn`` unchanged.

    Hooks run in registration order. Re-registering the same function (same
    module and qualified name, e.g. after a module reload) replaces it.
    """
    if not callable(fn):
        raise TypeError(f"cfg_hook expects a function taking the config, got {fn!r}")
    _HOOKS[f"{fn.__module__}.{fn.__qualname__}"] = fn
    return fn


def registered_cfg_hooks():
    """Names of the registered hooks, in the order they run."""
    return list(_HOOKS)


def extend_cfg(cfg):
    """Run every registered hook on ``cfg`` (idempotent); returns ``cfg``."""
    for hook in list(_HOOKS.values()):
        hook(cfg)
    return cfg


def _same_default(a, b):
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same_default(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _add_entries(node, path, entries):
    for key, default in entries.items():
        full_key = f"{path}.{key}" if path else key
        if not isinstance(key, str) or not key:
            raise TypeError(f"Config key names must be non-empty strings, got {key!r} under '{path}'")
        if isinstance(default, dict):
            if key not in node:
                node[key] = CN()
            elif not isinstance(node[key], CN):
                raise ValueError(f"Config key '{full_key}' already holds a value, cannot make it a node")
            _add_entries(node[key], full_key, default)
        elif key not in node:
            node[key] = default
        elif isinstance(node[key], CN):
            raise ValueError(f"Config key '{full_key}' is a node, cannot give it the default {default!r}")
        elif not _same_default(node[key], default):
            raise ValueError(
                f"Config key '{full_key}' is declared twice with different defaults: "
                f"existing {node[key]!r}, new {default!r}. A key must have one owner."
            )


def add_cfg_node(cfg, path, entries):
    """Create ``cfg.<path>`` if missing and add the ``entries`` it lacks.

    ``path`` is dotted (``"TRAINER.COOP"``; ``""`` means the root), ``entries``
    maps key -> default (a nested dict creates a sub-node). A key that already
    exists with the same default is left alone; one with a different default
    raises ``ValueError``, because two owners disagreeing is a bug.
    """
    node = cfg
    walked = []
    for part in [p for p in path.split(".") if p]:
        walked.append(part)
        if part not in node:
            node[part] = CN()
        elif not isinstance(node[part], CN):
            raise ValueError(f"Config key '{'.'.join(walked)}' holds a value, not a node")
        node = node[part]
    _add_entries(node, path, entries)
    return node
