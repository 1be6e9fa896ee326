"""Classification evaluator printing Dassl's result block.

The printed block is read by result parsers; keep its lines exactly::

    => result
    * total: 1,234
    * correct: 1,000
    * accuracy: 81.0%
    * error: 19.0%
    * macro_f1: 80.5%
"""

import logging
import os.path as osp
from collections import Counter, OrderedDict

import torch

from dassl.config.engine_keys import cfg_get
from dassl.utils import mkdir_if_missing
from dassl.utils.distributed import is_main_process

from .build import EVALUATOR_REGISTRY

log = logging.getLogger(__name__)

__all__ = ["EvaluatorBase", "Classification", "macro_f1_score", "confusion_matrix"]


class EvaluatorBase:
    """Interface: ``reset()``, ``process(output, target)``, ``evaluate() -> dict``."""

    def __init__(self, cfg):
        self.cfg = cfg

    def reset(self):
        raise NotImplementedError

    def process(self, mo, gt):
        raise NotImplementedError

    def evaluate(self):
        raise NotImplementedError

    def set_class_names(self, lab2cname):
        """Name labels for reports; evaluators that print no class names ignore it."""


def confusion_matrix(y_true, y_pred, num_classes=None, normalize=False):
    """``cmat[i, j]`` = count (or row fraction) of label ``i`` predicted as ``j``."""
    y_true = torch.as_tensor(y_true, dtype=torch.long)
    y_pred = torch.as_tensor(y_pred, dtype=torch.long)
    n = num_classes or int(max(y_true.max().item(), y_pred.max().item())) + 1
    cmat = torch.bincount(y_true * n + y_pred, minlength=n * n).reshape(n, n).double()
    if normalize:
        rows = cmat.sum(1, keepdim=True)
        cmat = torch.where(rows > 0, cmat / rows.clamp(min=1), cmat)
    return cmat


def macro_f1_score(y_true, y_pred):
    """Mean F1 over the labels present in ``y_true`` (a never-predicted label scores 0)."""
    labels = set(y_true)
    if not labels:
        return 0.0
    tp, fp, fn = Counter(), Counter(), Counter()
    for t, p in zip(y_true, y_pred):
        if t == p:
            tp[t] += 1
        else:
            fn[t] += 1
            fp[p] += 1
    scores = [2 * tp[c] / (2 * tp[c] + fp[c] + fn[c]) for c in labels]
    return sum(scores) / len(scores)


@EVALUATOR_REGISTRY.register()
class Classification(EvaluatorBase):
    """Accuracy, error rate and macro-F1 (all in percent) of argmax predictions.

    ``process`` optionally takes the image paths of the batch; with them,
    :meth:`wrong_predictions` can list the misclassified images.
    """

    def __init__(self, cfg, lab2cname=None, **kwargs):
        super().__init__(cfg)
        self._lab2cname = lab2cname
        if cfg.TEST.PER_CLASS_RESULT and lab2cname is None:
            raise ValueError("TEST.PER_CLASS_RESULT needs lab2cname (label -> class name)")
        self.decimals = int(cfg_get(cfg.TEST, "DECIMALS", 1))
        self.reset()

    def set_class_names(self, lab2cname):
        """Name the labels of the split about to be evaluated (it may be relabelled from 0)."""
        self._lab2cname = dict(lab2cname) if lab2cname is not None else None

    def reset(self):
        self._correct = 0
        self._total = 0
        self._y_true = []
        self._y_pred = []
        self._impaths = []

    def process(self, mo, gt, impaths=None):
        """Accumulate a batch: ``mo`` logits [B, C] (or a tuple whose first item is), ``gt`` labels [B]."""
        if isinstance(mo, (tuple, list)):
            mo = mo[0]
        pred = mo.argmax(dim=1)
        gt = gt.to(pred.device)
        self._correct += int(pred.eq(gt).sum().item())
        self._total += int(gt.shape[0])
        self._y_true.extend(gt.cpu().tolist())
        self._y_pred.extend(pred.cpu().tolist())
        if impaths is not None:
            if len(impaths) != gt.shape[0]:
                raise ValueError(f"Got {len(impaths)} image paths for a batch of {gt.shape[0]} labels")
            self._impaths.extend(str(p) for p in impaths)

    def _pct(self, value):
        return f"{value:.{self.decimals}f}%"

    def per_class(self):
        """List of ``{label, classname, total, correct, accuracy}`` ordered by label."""
        counts = {}
        for t, p in zip(self._y_true, self._y_pred):
            total, correct = counts.get(t, (0, 0))
            counts[t] = (total + 1, correct + int(t == p))
        rows = []
        for label in sorted(counts):
            total, correct = counts[label]
            name = self._lab2cname.get(label, str(label)) if self._lab2cname else str(label)
            rows.append(
                {"label": label, "classname": name, "total": total, "correct": correct,
                 "accuracy": 100.0 * correct / total}
            )
        return rows

    def evaluate(self):
        if self._total == 0:
            raise RuntimeError("Nothing to evaluate: process() was never called with samples")
        acc = 100.0 * self._correct / self._total
        err = 100.0 - acc
        macro_f1 = 100.0 * macro_f1_score(self._y_true, self._y_pred)
        results = OrderedDict([("accuracy", acc), ("error_rate", err), ("macro_f1", macro_f1)])
        log.info(
            "=> result\n"
            f"* total: {self._total:,}\n"
            f"* correct: {self._correct:,}\n"
            f"* accuracy: {self._pct(acc)}\n"
            f"* error: {self._pct(err)}\n"
            f"* macro_f1: {self._pct(macro_f1)}"
        )
        if self.cfg.TEST.PER_CLASS_RESULT:
            rows = self.per_class()
            log.info("=> per-class result")
            for r in rows:
                log.info(
                    f"* class: {r['label']} ({r['classname']})\t"
                    f"total: {r['total']:,}\tcorrect: {r['correct']:,}\tacc: {self._pct(r['accuracy'])}"
                )
            mean_acc = sum(r["accuracy"] for r in rows) / len(rows)
            log.info(f"* average: {self._pct(mean_acc)}")
            results["perclass_accuracy"] = mean_acc
        if self.cfg.TEST.COMPUTE_CMAT and is_main_process():
            cmat = confusion_matrix(self._y_true, self._y_pred, normalize=True)
            mkdir_if_missing(self.cfg.OUTPUT_DIR)
            save_path = osp.join(self.cfg.OUTPUT_DIR, "cmat.pt")
            torch.save(cmat, save_path)
            log.info(f"Confusion matrix is saved to {save_path}")
        return results

    def summary(self):
        """Machine-readable totals of the last evaluation (for results.json)."""
        acc = 100.0 * self._correct / self._total if self._total else 0.0
        return {
            "accuracy": acc,
            "error_rate": 100.0 - acc,
            "macro_f1": 100.0 * macro_f1_score(self._y_true, self._y_pred),
            "total": self._total,
            "correct": self._correct,
            "per_class": self.per_class(),
        }

    def wrong_predictions(self):
        """``[{index, impath, true, pred}]`` for every misclassified sample, in processing order."""
        wrong = []
        for i, (t, p) in enumerate(zip(self._y_true, self._y_pred)):
            if t != p:
                impath = self._impaths[i] if i < len(self._impaths) else None
                wrong.append({"index": i, "impath": impath, "true": t, "pred": p})
        return wrong
