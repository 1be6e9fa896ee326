"""Which split goes where: the one place that decides ``train_x`` / ``val`` / ``test`` of every dataset.

Trainer classes name their wiring in the class attribute ``data_wiring``; the data manager passes it to the
dataset constructor. The choices reproduce the four behaviours found in the CoOp-family repositories:

``coop``
    Upstream CoOp (also DePT, CaPT): every list subsampled to ``DATASET.SUBSAMPLE_CLASSES``; ``val`` is the
    dataset's own val split (the few-shot val when ``NUM_SHOTS >= 1``). Datasets without one (ImageNet)
    use the test split as val.
``fork``
    The PromptKD / DPC / CAPT forks for every other trainer: like ``coop`` but ``val`` is the test split.
``promptkd``
    PromptKD. With ``TRAINER.MODAL base2novel``: ``train_x`` holds every class of the train split (PromptKD
    distils on unlabelled images of the new classes too), ``val`` is the base-class test set and ``test``
    the new-class test set, each relabelled from 0; ``SUBSAMPLE_CLASSES`` is ignored. With ``cross``: as
    ``fork``.
``stage2``
    DPC / CAPT stage 2 (``StackSPLE_PromptKD``). With ``base2novel``: ``train_x`` subsampled as configured,
    ``val`` the base-class test set, ``test`` the new-class test set. With ``cross``: as ``fork``.

In the PromptKD family ``TEST.SPLIT val`` therefore means "base-class test set", and best-val model
selection looks at test images; this is kept because the published numbers depend on it.
"""

from __future__ import annotations

from .splits import check_subsample, subsample_classes

WIRINGS = ("coop", "fork", "promptkd", "stage2")
MODALS = ("base2novel", "cross")


def modal_from_cfg(cfg) -> str:
    """``TRAINER.MODAL`` when the config has it (PromptKD-family trainers add it), else ``base2novel``."""
    return cfg.TRAINER.get("MODAL", "base2novel") if "TRAINER" in cfg else "base2novel"


def check_wiring(wiring: str | None) -> str:
    wiring = wiring or "coop"
    if wiring not in WIRINGS:
        raise ValueError(f"Unknown data wiring {wiring!r}; expected one of {list(WIRINGS)}")
    return wiring


def wire_splits(
    train, val, test, wiring: str = "coop", subsample: str = "all", modal: str = "base2novel"
) -> dict:
    """Return ``{"train_x", "val", "test"}`` for ``DatasetBase.__init__``.

    Args:
        train, val, test: full-class lists (``train``/``val`` already few-shot when requested). ``val=None``
            means the dataset has no val split of its own (ImageNet).
        wiring: one of :data:`WIRINGS`.
        subsample: ``DATASET.SUBSAMPLE_CLASSES``.
        modal: ``TRAINER.MODAL`` (only read by ``promptkd`` and ``stage2``).
    """
    wiring = check_wiring(wiring)
    check_subsample(subsample)
    if wiring in ("promptkd", "stage2"):
        if modal not in MODALS:
            raise ValueError(f"TRAINER.MODAL must be one of {list(MODALS)}, got {modal!r}")
        if modal == "cross":
            wiring = "fork"

    if wiring == "coop":
        if val is None:
            train_x, test = subsample_classes(train, test, subsample=subsample)
            return {"train_x": train_x, "val": test, "test": test}
        train_x, val, test = subsample_classes(train, val, test, subsample=subsample)
        return {"train_x": train_x, "val": val, "test": test}
    if wiring == "fork":
        train_x, test = subsample_classes(train, test, subsample=subsample)
        return {"train_x": train_x, "val": test, "test": test}

    # Base and new halves are defined by the labels of the train split, as in the upstream code.
    base_test = subsample_classes(train, test, subsample="base")[1]
    new_test = subsample_classes(train, test, subsample="new")[1]
    if wiring == "promptkd":
        return {"train_x": list(train), "val": base_test, "test": new_test}
    train_x = subsample_classes(train, subsample=subsample)[0]
    return {"train_x": train_x, "val": base_test, "test": new_test}
