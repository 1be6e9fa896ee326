"""Dataset registry and builder."""

import inspect
import logging

from dassl.utils import Registry, check_availability

log = logging.getLogger(__name__)

DATASET_REGISTRY = Registry("DATASET")

# The wiring every dataset follows when it does not take a ``wiring`` argument.
DEFAULT_WIRING = "coop"


def _accepts_kwarg(cls, name):
    try:
        params = inspect.signature(cls.__init__).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def build_dataset(cfg, **kwargs):
    """Instantiate ``cfg.DATASET.NAME`` from :data:`DATASET_REGISTRY`.

    Dataset classes are called as ``cls(cfg, **kwargs)``. ``wiring`` (which
    splits feed train/val/test, chosen by the trainer) is only passed to
    classes whose ``__init__`` accepts it; a plain ``__init__(self, cfg)``
    dataset works with the default wiring and raises for any other.
    """
    name = cfg.DATASET.NAME
    check_availability(name, DATASET_REGISTRY.registered_names())
    if cfg.VERBOSE:
        log.info(f"Loading dataset: {name}")
    cls = DATASET_REGISTRY.get(name)
    wiring = kwargs.get("wiring")
    if "wiring" in kwargs and not _accepts_kwarg(cls, "wiring"):
        if wiring not in (None, DEFAULT_WIRING):
            raise ValueError(
                f"Dataset {name} does not take a 'wiring' argument, but the trainer needs "
                f"wiring '{wiring}'; add `wiring` to {name}.__init__"
            )
        kwargs = {k: v for k, v in kwargs.items() if k != "wiring"}
    elif "wiring" in kwargs and wiring is None:
        kwargs = {k: v for k, v in kwargs.items() if k != "wiring"}
    return cls(cfg, **kwargs)
