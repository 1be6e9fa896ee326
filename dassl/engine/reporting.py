"""Machine-readable evaluation outputs written next to ``log.txt``.

``results.json`` (schema version 1)::

    {"schema": 1, "split": "test", "accuracy": 81.0, "error_rate": 19.0, "macro_f1": 80.5,
     "total": 1234, "correct": 1000,
     "per_class": [{"label": 0, "classname": "cat", "total": 50, "correct": 45, "accuracy": 90.0}],
     "trainer": "CoOp", "dataset": "OxfordPets", "backbone": "ViT-B/16",
     "subsample_classes": "base",   # only when the config has DATASET.SUBSAMPLE_CLASSES
     "eval_classes": "base",        # which classes the evaluated split holds (base / new / all), when known
     "seed": 1, "num_shots": 16, "epoch": 10,
     "history": [{"epoch": 1, "split": "val", "accuracy": 70.0}]}

``epoch`` is the number of epochs the evaluated weights were trained for
(null when unknown, e.g. zero-shot), ``history`` lists the earlier
evaluations of the same run. ``wrong_predictions.json``::

    {"split": "test", "classnames": [...], "num_samples": 1234,
     "wrong": [{"index": 3, "impath": "...", "true": 0, "pred": 2}]}

``selected_on_test`` (bool) says whether the evaluated weights were chosen by accuracy on test images
(``dassl.engine.selection``). ``index`` is the position in the evaluated split; ``true``/``pred`` index
``classnames``. Percentages are in percent, unrounded.

A run that ends without evaluating by design (DAPT's prototype pass) writes
``{"schema": 1, "split": null, "evaluated": false, <run fields>, "outputs": {...}}``:
it finished, and has no accuracy to report.
"""

import os.path as osp

from dassl.run_dir import RESULTS_FILE, WRONG_FILE
from dassl.utils import write_json_atomic

__all__ = ["RESULTS_FILE", "WRONG_FILE", "run_metadata", "split_classes", "write_eval_outputs",
           "write_unevaluated_run", "write_wrong_predictions"]



def split_classes(data_source, dataset=None):
    """Label -> class name of an evaluated split, read from its items, and which half of the classes it is.

    The split's own items decide, not the config: in the PromptKD family ``val`` is the base-class test set
    and ``test`` the new-class one, whatever ``DATASET.SUBSAMPLE_CLASSES`` says. The half is ``"base"``,
    ``"new"`` or ``"all"`` when ``dataset`` has ``base_classnames`` / ``new_classnames``, else None.
    Returns ``(None, None)`` when the items carry no class names.
    """
    names = {}
    for item in data_source or ():
        classname = getattr(item, "classname", None)
        if classname is None:
            return None, None
        names.setdefault(int(item.label), classname)
    if not names:
        return None, None
    base = getattr(dataset, "base_classnames", None)
    new = getattr(dataset, "new_classnames", None)
    held = set(names.values())
    half = None
    if base is not None and new is not None:
        if held == set(base) | set(new):
            half = "all"
        elif held <= set(base):
            half = "base"
        elif held <= set(new):
            half = "new"
    return dict(sorted(names.items())), half


def run_metadata(cfg, trainer_name, epoch, device=None):
    """The run fields of results.json taken from the config (and the device the run used)."""
    meta = {
        "trainer": trainer_name,
        "dataset": cfg.DATASET.NAME,
        "backbone": cfg.MODEL.BACKBONE.NAME,
    }
    if "SUBSAMPLE_CLASSES" in cfg.DATASET:
        meta["subsample_classes"] = cfg.DATASET.SUBSAMPLE_CLASSES
    meta.update({"seed": cfg.SEED, "num_shots": cfg.DATASET.NUM_SHOTS, "epoch": epoch})
    if device is not None:
        meta["device"] = dict(device)
    return meta


def write_eval_outputs(output_dir, split, summary, meta, history, classnames=None, wrong=None):
    """Write results.json (and wrong_predictions.json when ``wrong`` is given) atomically."""
    results = {"schema": 1, "split": split}
    results.update(summary)
    results.update(meta)
    results["history"] = list(history)
    write_json_atomic(results, osp.join(output_dir, RESULTS_FILE))
    if wrong is not None:
        path = osp.join(output_dir, WRONG_FILE)
        write_wrong_predictions(path, split, classnames, summary.get("total"), wrong)
    return results


def write_wrong_predictions(path, split, classnames, num_samples, wrong, **extra):
    """A ``wrong_predictions.json``-format file at ``path`` (``extra``: additional top-level fields)."""
    payload = {"split": split, "classnames": list(classnames or []), "num_samples": num_samples,
               "wrong": wrong, **extra}
    write_json_atomic(payload, path)


def write_unevaluated_run(output_dir, meta, outputs):
    """results.json of a run that finishes without an evaluation, naming the files it produced."""
    results = {"schema": 1, "split": None, "evaluated": False, **meta, "outputs": dict(outputs)}
    write_json_atomic(results, osp.join(output_dir, RESULTS_FILE))
    return results
