"""Compare the errors of two runs on the same split: which of the baseline's mistakes were resolved.

Example (CAPT against the stage-1 backbone it froze, which every base-class evaluation of stage 2 scores
into ``backbone_wrong_predictions.json``; split ``val`` = the base-class test set)::

    python -m tools.confusion.compare_runs --baseline <stage-2 dir>/backbone_wrong_predictions.json \
        --new <stage-2 dir>

Any two runs (or ``wrong_predictions.json``-format files) evaluated on the same split compare the same way.

Reads ``wrong_predictions.json`` of both runs (written by every evaluation) and writes, into the new run's
directory, ``confusion_compare.json`` (``resolved_rate`` = percentage of the baseline's wrong samples the
new run classifies correctly; ``introduced`` = samples only the new run gets wrong; per-pair count changes)
and the heat-maps ``confusion_before.png`` / ``confusion_after.png`` (same colour scale and classes: the
most confused ones when there are more than ``heatmap.MAX_CLASSES``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from dassl.run_dir import WRONG_FILE  # noqa: E402
from dassl.utils import write_json_atomic  # noqa: E402
from tools.confusion.heatmap import plot_confusion, top_confused_classes  # noqa: E402

COMPARE_FILE = "confusion_compare.json"


def read_wrong(run_dir: str) -> dict:
    path = run_dir if run_dir.endswith(".json") else os.path.join(run_dir, WRONG_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: evaluate the run first (every evaluation writes it)")
    with open(path) as f:
        data = json.load(f)
    for key in ("split", "classnames", "num_samples", "wrong"):
        if key not in data:
            raise ValueError(f"{path}: missing key {key!r}; expected a {WRONG_FILE} written by an evaluation")
    return data


def common_classnames(before: dict, after: dict) -> list[str]:
    """The class list both runs index into.

    A run may list every class of the dataset while it evaluated only the first ones (PromptKD-family
    base split); one list being a prefix of the other, with every label inside the shorter, is accepted.
    """
    a, b = before["classnames"], after["classnames"]
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    labels = [v for w in before["wrong"] + after["wrong"] for v in (w["true"], w["pred"])]
    if long_[: len(short)] != short or any(v >= len(short) for v in labels):
        raise ValueError(f"the two runs were evaluated on different class sets ({a!r} vs {b!r}); "
                         f"compare runs on the same split and class set")
    return list(short)


def check_same_split(before: dict, after: dict) -> list[str]:
    for key in ("split", "num_samples"):
        if before[key] != after[key]:
            raise ValueError(f"the two runs were evaluated on different data ({key}: {before[key]!r} vs "
                             f"{after[key]!r}); compare runs on the same split and class set")
    return common_classnames(before, after)


def matrix(wrong: list[dict], n: int) -> np.ndarray:
    """Counts of wrong predictions [n, n]: rows ground truth, columns predicted class."""
    m = np.zeros((n, n), dtype=np.int64)
    for w in wrong:
        m[w["true"], w["pred"]] += 1
    return m


def compare(before: dict, after: dict) -> dict:
    """The comparison record (no files written)."""
    names = check_same_split(before, after)
    wrong_b = {w["index"]: w for w in before["wrong"]}
    wrong_a = {w["index"]: w for w in after["wrong"]}
    resolved = sorted(set(wrong_b) - set(wrong_a))
    introduced = sorted(set(wrong_a) - set(wrong_b))
    still = sorted(set(wrong_a) & set(wrong_b))
    pairs_b = Counter((w["true"], w["pred"]) for w in before["wrong"])
    pairs_a = Counter((w["true"], w["pred"]) for w in after["wrong"])
    per_pair = [{"true": names[t], "pred": names[p], "before": pairs_b[(t, p)], "after": pairs_a[(t, p)],
                 "change": pairs_a[(t, p)] - pairs_b[(t, p)]}
                for t, p in sorted(set(pairs_b) | set(pairs_a), key=lambda k: (-pairs_b[k], -pairs_a[k], k))]
    n_b = len(wrong_b)
    return {
        "schema": 1,
        "split": before["split"],
        "num_samples": before["num_samples"],
        "baseline_wrong": n_b,
        "new_wrong": len(wrong_a),
        "resolved": len(resolved),
        "resolved_rate": 100.0 * len(resolved) / n_b if n_b else None,
        "introduced": len(introduced),
        "still_wrong": len(still),
        "changed_prediction_still_wrong": sum(wrong_a[i]["pred"] != wrong_b[i]["pred"] for i in still),
        "per_pair": per_pair,
    }


def format_report(result: dict, top: int = 10) -> str:
    rate = result["resolved_rate"]
    lines = [
        f"split {result['split']}: {result['num_samples']} samples; "
        f"baseline wrong {result['baseline_wrong']}, "
        f"new wrong {result['new_wrong']}",
        f"resolved {result['resolved']} of the baseline's wrong samples "
        f"({'n/a' if rate is None else f'{rate:.2f}%'}); introduced {result['introduced']} new errors",
        f"{'GT class':<20} {'predicted as':<20} {'before':>7} {'after':>6}",
    ]
    for row in result["per_pair"][:top]:
        lines.append(f"{row['true'][:20]:<20} {row['pred'][:20]:<20} {row['before']:>7d} {row['after']:>6d}")
    return "\n".join(lines)


def run(baseline: str, new: str, out_dir: str | None = None, plots: bool = True) -> dict:
    before, after = read_wrong(baseline), read_wrong(new)
    result = compare(before, after)
    result["baseline_dir"] = os.path.relpath(os.path.abspath(baseline), os.path.abspath(new))
    out_dir = out_dir or (os.path.dirname(new) if new.endswith(".json") else new)
    if plots:
        names = check_same_split(before, after)
        m_b, m_a = matrix(before["wrong"], len(names)), matrix(after["wrong"], len(names))
        top = max(int(m_b.max(initial=0)), int(m_a.max(initial=0)), 1)
        # both maps show the same classes (the most confused before or after, when there are many)
        shown = top_confused_classes([m_b, m_a])
        result["heatmaps"] = [
            os.path.basename(plot_confusion(m_b, names, f"before: {result['baseline_wrong']} wrong",
                                            os.path.join(out_dir, "confusion_before.png"), vmax=top,
                                            classes=shown)),
            os.path.basename(plot_confusion(m_a, names, f"after: {result['new_wrong']} wrong",
                                            os.path.join(out_dir, "confusion_after.png"), vmax=top,
                                            classes=shown)),
        ]
    write_json_atomic(result, os.path.join(out_dir, COMPARE_FILE))
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", required=True, help="run dir (or its wrong_predictions.json)")
    parser.add_argument("--new", required=True, help="run dir (or wrong_predictions.json) of the new run")
    parser.add_argument("--out-dir", default="", help="where to write the outputs (default: the new run dir)")
    parser.add_argument("--top", type=int, default=10, help="pairs to print")
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.baseline, args.new, args.out_dir or None, plots=not args.no_plots)
    print(format_report(result, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
