"""Summarise base-to-new runs under an output root: per-dataset tables of Base / New / H over seeds.

A run is any folder holding ``results.json`` or a ``log.txt`` (also upstream logs without results.json).
For each run the script finds:

* the accuracy: ``results.json`` of the test split, else the last test evaluation in its history, else its
  last evaluation of any split (PromptKD-family runs test their base classes with ``TEST.SPLIT val``);
  without results.json, the last ``accuracy: X%`` line of the newest log (``log.txt`` or a rotated
  ``log.txt-<time>``), which is rounded to one decimal;
* method, dataset, seed and split: from results.json (``trainer``, ``dataset``, ``seed``,
  ``eval_classes`` or else ``subsample_classes``), else from the path, which follows one of the published
  layouts::

      .../train_base/<dataset>/shots_16/<Trainer>/<cfg>/seed1      (CoOp / CoCoOp scripts)
      .../test_new/<Trainer>/<dataset>/shots16/<cfg>/seed1         (CaPT runner)

  ``train_*`` / ``test_base`` folders hold base-class accuracies, ``test_new`` new-class ones; ``seed<N>``
  and ``seed_<N>`` both work. The config name (``<cfg>``) is part of the method label when the path has one.

Per dataset and method: Base and New are the mean (± population std) over seeds, H = 2BN/(B+N) of those
means (± the std of the per-seed H). The ``Average`` table follows the papers: B and N are averaged over
datasets and H is the harmonic mean of the two averages; the mean of the per-dataset H is shown beside it.
``--csv out.csv`` writes the CaPT layout (``dataset, base_acc_seed<N>, new_acc_seed<N>, H_seed<N>, ...,
base_acc, new_acc, H`` with an ``average`` row); with several methods one file per method
(``out-<method>.csv``). ``--resolved`` adds the mean ``resolved_rate`` of ``confusion_compare.json`` files.
``--times`` adds the training wall time: the mean over seeds of the ``Elapsed:`` line a training run logs
when it finishes (evaluation-only runs log none; a resumed run counts only its last part).
``--published capt|capt_ucp|promptkd`` (or ``--published-file table.json``, same format) adds, per column of
that paper's table, our Base / New / H beside the paper's with the difference ours - paper; the papers'
tables are in ``tools/published/`` (see there for the format).
A method whose weights were selected on test images in any of its runs (``selected_on_test`` in
results.json: a best-val checkpoint whose val split is test data, or a CAPT backbone that was) is marked
``†``; ``TEST.PROTOCOL clean`` runs never are.

Usage: python -m tools.parse_results output/base2new [--csv b2n.csv] [--resolved] [--times]
       [--published capt]
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import os.path as osp
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import yaml

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from dassl.atomic_io import write_text_atomic  # noqa: E402
from dassl.run_dir import EXCEPTIONS_FILE, LOG_FILE, RESULTS_FILE  # noqa: E402
from dassl.run_state import finished_state  # noqa: E402
from tools import published  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
# Dataset order of every published base-to-new table; other datasets follow alphabetically.
TABLE_ORDER = ("imagenet", "caltech101", "oxford_pets", "stanford_cars", "oxford_flowers", "food101",
               "fgvc_aircraft", "sun397", "dtd", "eurosat", "ucf101")
ACCURACY_RE = re.compile(r"accuracy: ([\d.]+(?:[eE][+-]?\d+)?)%")
ELAPSED_RE = re.compile(r"^Elapsed: (?:(\d+) days?, )?(\d+):(\d\d):(\d\d)\s*$", re.M)
SEED_RE = re.compile(r"^seed_?(\d+)$")
SHOTS_RE = re.compile(r"^(?:shots_?(\d+)|(\d+)shots)$")
TEST_MARK = "†"  # marks methods whose numbers were selected on test data
SPLIT_DIRS = {"train_base": "base", "test_base": "base", "test_new": "new", "train_all": "all",
              "test_all": "all"}


@dataclass
class Run:
    path: str
    accuracy: float
    method: str
    dataset: str
    seed: int | None
    split: str  # base / new / all
    resolved: float | None = None
    source: str = RESULTS_FILE
    train_s: float | None = None
    selected_on_test: bool = False


@dataclass
class Cell:
    """Accuracies of one (method, dataset) over seeds."""

    base: dict = field(default_factory=dict)
    new: dict = field(default_factory=dict)
    all: dict = field(default_factory=dict)
    resolved: list = field(default_factory=list)
    train_s: list = field(default_factory=list)
    selected_on_test: bool = False


# ------------------------------------------------------------------------------------------ discovery
def dataset_names(config_dir: str | None = None) -> dict[str, str]:
    """``DATASET.NAME`` (e.g. ``DescribableTextures``) -> config stem (``dtd``) from configs/datasets."""
    config_dir = config_dir or osp.join(REPO, "configs", "datasets")
    names = {}
    for path in sorted(glob.glob(osp.join(config_dir, "*.yaml"))):
        with open(path) as f:
            data = yaml.safe_load(f) or {}
        name = (data.get("DATASET") or {}).get("NAME")
        if name:
            names[str(name)] = osp.splitext(osp.basename(path))[0]
    return names


def find_run_dirs(root: str) -> list[str]:
    if not osp.isdir(root):
        raise FileNotFoundError(f"output root {root!r} is not a directory")
    runs = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if RESULTS_FILE in files or any(f == LOG_FILE or f.startswith(LOG_FILE + "-") for f in files):
            runs.append(folder)
    return runs


def accuracy_from_results(folder: str) -> tuple[float | None, dict]:
    path = osp.join(folder, RESULTS_FILE)
    if not osp.exists(path):
        return None, {}
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a readable {RESULTS_FILE} ({err})") from err
    if data.get("split", "test") == "test" and "accuracy" in data:
        return float(data["accuracy"]), data
    for entry in reversed(data.get("history") or []):
        if entry.get("split") == "test" and "accuracy" in entry:
            return float(entry["accuracy"]), data
    if "accuracy" in data:  # the run's last evaluation: what its log's last accuracy line shows, unrounded
        return float(data["accuracy"]), data
    return None, data


def _last_match_in_logs(folder: str, pattern: re.Pattern):
    """The last match of ``pattern`` in the newest log file that has one (``log.txt`` or rotated)."""
    logs = [p for p in glob.glob(osp.join(folder, LOG_FILE + "*")) if osp.isfile(p)]
    for path in sorted(logs, key=osp.getmtime, reverse=True):
        with open(path, errors="replace") as f:
            matches = pattern.findall(f.read())
        if matches:
            return matches[-1]
    return None


def accuracy_from_log(folder: str) -> float | None:
    """Last ``accuracy: X%`` of the newest log file that has one (CaPT's parser rule)."""
    match = _last_match_in_logs(folder, ACCURACY_RE)
    return None if match is None else float(match)


def train_seconds_from_log(folder: str) -> float | None:
    """Seconds of the last ``Elapsed: [D day(s), ]H:MM:SS`` a finished training run logged, if any."""
    match = _last_match_in_logs(folder, ELAPSED_RE)
    if match is None:
        return None
    days, hours, minutes, seconds = (int(x) if x else 0 for x in match)
    return float(((days * 24 + hours) * 60 + minutes) * 60 + seconds)


def infer_from_path(rel: str, known: set[str]) -> dict:
    """Method / dataset / seed / split from a run path in one of the published layouts."""
    parts = [p for p in rel.replace("\\", "/").split("/") if p]
    info: dict = {}
    for i, part in enumerate(parts):
        m = SEED_RE.match(part)
        if m:
            info["seed"] = int(m.group(1))
            parts = parts[:i]
            break
    marker = next((i for i, p in enumerate(parts) if p in SPLIT_DIRS), None)
    if marker is not None:
        info["split"] = SPLIT_DIRS[parts[marker]]
        parts = parts[marker + 1:]
    shots = next((i for i, p in enumerate(parts) if SHOTS_RE.match(p)), None)
    if shots == 1 and len(parts) >= 3:  # <dataset>/shots_K/<Trainer>/<cfg...>
        info["dataset"], info["trainer"], cfg = parts[0], parts[2], parts[3:]
    elif shots == 2:  # <Trainer>/<dataset>/shotsK/<cfg...>
        info["trainer"], info["dataset"], cfg = parts[0], parts[1], parts[3:]
    else:
        dataset = next((p for p in parts if p in known), None)
        if dataset:
            info["dataset"] = dataset
        cfg = []
    if cfg:
        info["cfg"] = "/".join(cfg)
    return info


def unusable_reason(folder: str) -> str | None:
    """Why a run folder's numbers must not be used (None: usable).

    A folder this project wrote (it has results.json, which every evaluation rewrites, mid-training too)
    counts only once ``finished.json`` says the run ended (see ``dassl.run_state``); a failed run never.
    Upstream folders with logs only keep the log contract.
    """
    if osp.exists(osp.join(folder, RESULTS_FILE)):
        finished, why = finished_state(folder)
        return None if finished else why
    if osp.exists(osp.join(folder, EXCEPTIONS_FILE)):
        return f"its last run failed (see {EXCEPTIONS_FILE})"
    return None


def collect_runs(
    root: str, with_resolved: bool = False, with_times: bool = False
) -> tuple[list[Run], list[str]]:
    """All runs under ``root`` and a list of notes about folders that could not be used."""
    names = dataset_names()
    known = set(names.values())
    runs, notes = [], []
    for folder in find_run_dirs(root):
        rel = osp.relpath(folder, root)
        why = unusable_reason(folder)
        if why:
            notes.append(f"{rel}: skipped, {why}")
            continue
        acc, meta = accuracy_from_results(folder)
        if meta.get("evaluated") is False:  # finished without an evaluation by design (DAPT prototypes)
            continue
        source = RESULTS_FILE
        if acc is None:
            acc, source = accuracy_from_log(folder), "log"
        if acc is None:
            notes.append(f"{rel}: no accuracy found (unfinished run?)")
            continue
        info = infer_from_path(rel, known)
        trainer = meta.get("trainer") or info.get("trainer")
        dataset = meta.get("dataset")
        dataset = names.get(dataset, dataset.lower()) if dataset else info.get("dataset")
        seed = meta.get("seed", info.get("seed"))
        # eval_classes (what the evaluated split held) beats subsample_classes: PromptKD-family runs
        # evaluate base and new classes from one config.
        halves = {"base": "base", "new": "new", "all": "all"}
        split = halves.get(meta.get("eval_classes")) or halves.get(meta.get("subsample_classes"),
                                                                   info.get("split", "all"))
        if not trainer or not dataset:
            notes.append(f"{rel}: cannot tell the method or dataset from results.json or the path")
            continue
        method = f"{trainer}/{info['cfg']}" if info.get("cfg") else trainer
        resolved = read_resolved(folder) if with_resolved else None
        train_s = train_seconds_from_log(folder) if with_times else None
        runs.append(Run(folder, acc, method, dataset, seed, split, resolved, source, train_s,
                        bool(meta.get("selected_on_test"))))
    return runs, notes


def read_resolved(folder: str) -> float | None:
    path = osp.join(folder, "confusion_compare.json")
    if not osp.exists(path):
        return None
    with open(path) as f:
        value = json.load(f).get("resolved_rate")
    return None if value is None else float(value)


# ------------------------------------------------------------------------------------------ statistics
def harmonic(base: float, new: float) -> float:
    return 2 * base * new / (base + new) if base + new else 0.0


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def pstd(values) -> float:
    values = list(values)
    m = mean(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / len(values))


def group(runs: list[Run]) -> dict[str, dict[str, Cell]]:
    """method -> dataset -> Cell (seed -> accuracy per split). A repeated (seed, split) keeps the last."""
    table: dict[str, dict[str, Cell]] = defaultdict(lambda: defaultdict(Cell))
    for run in sorted(runs, key=lambda r: r.path):
        cell = table[run.method][run.dataset]
        getattr(cell, run.split)[run.seed] = run.accuracy
        if run.resolved is not None:
            cell.resolved.append(run.resolved)
        if run.train_s is not None:
            cell.train_s.append(run.train_s)
        cell.selected_on_test |= run.selected_on_test
    return table


def dataset_order(datasets) -> list[str]:
    datasets = set(datasets)
    return [d for d in TABLE_ORDER if d in datasets] + sorted(datasets - set(TABLE_ORDER))


@dataclass
class B2NRow:
    base: float
    new: float
    base_std: float
    new_std: float
    h: float
    h_std: float | None
    n_base: int
    n_new: int


def b2n_row(cell: Cell) -> B2NRow | None:
    if not cell.base or not cell.new:
        return None
    b, n = mean(cell.base.values()), mean(cell.new.values())
    paired = sorted(set(cell.base) & set(cell.new), key=str)
    h_seeds = [harmonic(cell.base[s], cell.new[s]) for s in paired]
    return B2NRow(b, n, pstd(cell.base.values()), pstd(cell.new.values()), harmonic(b, n),
                  pstd(h_seeds) if h_seeds else None, len(cell.base), len(cell.new))


# ------------------------------------------------------------------------------------------ output
def _pm(value: float, std: float | None) -> str:
    return f"{value:.2f}" if std is None else f"{value:.2f} ± {std:.2f}"


def _seed_stats(acc: dict) -> str:
    return _pm(mean(acc.values()), pstd(acc.values()))


def _dataset_rows(method: str, cell: Cell, with_resolved: bool, with_times: bool = False) -> list[str]:
    extra = ""  # the optional columns, each ending in "|"
    if with_resolved:
        extra += f" {mean(cell.resolved):.2f} |" if cell.resolved else " - |"
    if with_times:
        extra += f" {mean(cell.train_s):.0f} ± {pstd(cell.train_s):.0f} |" if cell.train_s else " - |"
    rows = []
    method = f"{method} {TEST_MARK}" if cell.selected_on_test else method
    row = b2n_row(cell)
    if row is not None:
        rows.append(f"| {method} | {_pm(row.base, row.base_std)} | {_pm(row.new, row.new_std)} | "
                    f"{_pm(row.h, row.h_std)} | {row.n_base}/{row.n_new} |{extra}")
    elif cell.base:
        rows.append(f"| {method} (base only) | {_seed_stats(cell.base)} | - | - | "
                    f"{len(cell.base)}/0 |{extra}")
    elif cell.new:
        rows.append(f"| {method} (new only) | - | {_seed_stats(cell.new)} | - | "
                    f"0/{len(cell.new)} |{extra}")
    if cell.all:
        rows.append(f"| {method} (all classes) | {_seed_stats(cell.all)} | - | - | "
                    f"{len(cell.all)} |{extra}")
    return rows


def markdown(table: dict[str, dict[str, Cell]], with_resolved: bool = False, with_times: bool = False) -> str:
    """Markdown: one table per dataset, then the average over datasets per method."""
    lines = []
    columns = (("Resolved", with_resolved), ("Train time (s)", with_times))
    optional = [name for name, wanted in columns if wanted]
    header = "| Method | Base | New | H | Seeds (B/N) |" + "".join(f" {name} |" for name in optional)
    rule = "|---|---|---|---|---|" + "---|" * len(optional)
    for dataset in dataset_order({d for cells in table.values() for d in cells}):
        rows = [r for m in sorted(table) if dataset in table[m]
                for r in _dataset_rows(m, table[m][dataset], with_resolved, with_times)]
        if rows:
            lines += [f"### {dataset}", "", header, rule, *rows, ""]
    avg_rows = []
    for method in sorted(table):
        rows = [r for r in map(b2n_row, table[method].values()) if r is not None]
        if not rows:
            continue
        b, n = mean(r.base for r in rows), mean(r.new for r in rows)
        mark = f" {TEST_MARK}" if any(c.selected_on_test for c in table[method].values()) else ""
        avg_rows.append(f"| {method}{mark} | {b:.2f} | {n:.2f} | {harmonic(b, n):.2f} | "
                        f"{mean(r.h for r in rows):.2f} | {len(rows)} |")
    if avg_rows:
        lines += ["### Average over datasets", "",
                  "| Method | Base | New | H (of the averages; as published) | mean of per-dataset H "
                  "| Datasets |",
                  "|---|---|---|---|---|---|", *avg_rows, ""]
    lines.append("Base/New: mean ± population std over seeds; H = 2BN/(B+N) of the seed means "
                 "(± std of the per-seed H).")
    if any(c.selected_on_test for cells in table.values() for c in cells.values()):
        lines.append(f"{TEST_MARK} checkpoint selected on test images (TEST.FINAL_MODEL best_val on a test "
                     "split, or a frozen backbone that was); TEST.PROTOCOL clean avoids it.")
    return "\n".join(lines)


def _ours(cell: Cell | None) -> tuple[float | None, float | None, str]:
    """Our Base and New means of one dataset (None where missing) and the seed counts."""
    if cell is None:
        return None, None, "–"
    b = mean(cell.base.values()) if cell.base else None
    n = mean(cell.new.values()) if cell.new else None
    return b, n, f"{len(cell.base)}/{len(cell.new)}"


def _compared(ours: list, paper: list) -> str:
    """``ours | paper | ours - paper`` cells of Base, New and H ("–" where a side is missing)."""
    b, n = ours
    ours = [b, n, harmonic(b, n) if b is not None and n is not None else None]
    cells = []
    for mine, theirs in zip(ours, paper):
        diff = f"{mine - theirs:+.2f}" if mine is not None and theirs is not None else "–"
        cells += [_two(mine), _two(theirs), diff]
    return " | ".join(cells)


def _two(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def published_column_rows(column: dict, cells: dict[str, Cell]) -> list[str]:
    """Markdown rows of one published column beside our cells (dataset -> Cell) of one method, in the paper's
    row order. Our Average follows the paper's rule (B and N averaged over its datasets, H of those) and is
    shown only where we have every dataset of the paper's table."""
    ours = {published.row_name(d): c for d, c in cells.items()}
    datasets = [r for r in column["rows"] if r != published.AVERAGE]
    lines = []
    for row, paper in column["rows"].items():
        if row == published.AVERAGE:
            per = [_ours(ours.get(r))[:2] for r in datasets]
            avg = [mean(v[i] for v in per) if all(v[i] is not None for v in per) else None for i in (0, 1)]
            have = sum(1 for v in per if v[0] is not None or v[1] is not None)
            lines.append(f"| {row} | {_compared(avg, paper)} | {have}/{len(datasets)} datasets |")
        else:
            b, n, seeds = _ours(ours.get(row))
            lines.append(f"| {row} | {_compared([b, n], paper)} | {seeds} |")
    return lines


def published_markdown(table: dict[str, dict[str, Cell]], reference: dict) -> str:
    """Our table beside a published one (:mod:`tools.published`): one block per paper column and matching
    method of ours, each cell ours | paper | ours - paper."""
    lines = [f"## Compared with the paper: {reference.get('title', '')}".rstrip(), "",
             f"Source: {reference['source']}", ""]
    names = ["Dataset"] + [f"{m}{s}" for m in ("Base", "New", "H") for s in ("", " (paper)", " Δ")]
    header = ("| " + " | ".join(names + ["Seeds (B/N)"]) + " |", "|---" * (len(names) + 1) + "|")
    for column in reference["columns"]:
        methods = [m for m in sorted(table) if published.matches(m, column["methods"])]
        if not methods:
            lines += [f"### {column['name']}: no runs of {' / '.join(column['methods'])} here", ""]
        for method in methods:
            extra = sorted(d for d in table[method] if published.row_name(d) not in column["rows"])
            lines += [f"### {column['name']} (paper) vs {method} (ours)", "", *header,
                      *published_column_rows(column, table[method]), ""]
            if extra:
                lines += [f"Not in the paper's table: {', '.join(extra)}.", ""]
    lines.append("Δ = ours − paper; – = not available. Ours: means over seeds, H = 2BN/(B+N) of the means; "
                 "our Average only where we have every dataset of the paper's table.")
    lines += [f"Note: {note}" for note in reference.get("notes", [])]
    return "\n".join(lines)


def _num(value: float | None) -> str:
    """CSV cell: rounded to 2 decimals, written the way pandas writes floats (80.0, 81.32)."""
    return "" if value is None else repr(float(np.round(value, 2)))


def capt_csv_rows(cells: dict[str, Cell]) -> list[list[str]]:
    """The CaPT base-to-new CSV of one method: header, one row per dataset, then ``average``."""
    seeds = sorted({s for c in cells.values() for s in (*c.base, *c.new)}, key=lambda s: (s is None, s))
    header = ["dataset"]
    for s in seeds:
        header += [f"base_acc_seed{s}", f"new_acc_seed{s}", f"H_seed{s}"]
    header += ["base_acc", "new_acc", "H"]
    numeric: list[tuple[str, list[float | None]]] = []
    for dataset in dataset_order(d for d, c in cells.items() if c.base or c.new):
        cell = cells[dataset]
        values: list[float | None] = []
        for s in seeds:
            b, n = cell.base.get(s), cell.new.get(s)
            values += [b, n, harmonic(b, n) if b is not None and n is not None else None]
        b = mean(cell.base.values()) if cell.base else None
        n = mean(cell.new.values()) if cell.new else None
        values += [b, n, None]
        numeric.append((dataset, values))
    if numeric:
        columns = list(zip(*(v for _, v in numeric)))
        average = [mean(x for x in col if x is not None) if any(x is not None for x in col) else None
                   for col in columns]
        numeric.append(("average", average))
    rows = [header]
    for name, values in numeric:
        b, n = values[-3], values[-2]
        values[-1] = harmonic(b, n) if b is not None and n is not None else None  # H from this row's means
        rows.append([name] + [_num(v) for v in values])
    return rows


def write_csv_atomic(rows: list[list[str]], path: str) -> None:
    write_text_atomic("".join(",".join(row) + "\n" for row in rows), path)


def write_csvs(table: dict[str, dict[str, Cell]], path: str) -> list[str]:
    methods = [m for m in sorted(table) if any(c.base or c.new for c in table[m].values())]
    if len(methods) == 1:
        targets = {methods[0]: path}
    else:
        stem, ext = osp.splitext(path)
        targets = {m: f"{stem}-{re.sub(r'[^A-Za-z0-9_.+-]+', '-', m)}{ext or '.csv'}" for m in methods}
    for method, target in targets.items():
        write_csv_atomic(capt_csv_rows(table[method]), target)
    return list(targets.values())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root", help="output root to search for runs")
    parser.add_argument("--csv", default="", help="write the CaPT-layout CSV here")
    parser.add_argument("--resolved", action="store_true",
                        help="add the resolved_rate of confusion_compare.json")
    parser.add_argument("--times", action="store_true",
                        help="add the training wall time (mean ± std over seeds of the logged Elapsed)")
    parser.add_argument("--list", action="store_true", help="also list every run found")
    parser.add_argument("--published", choices=published.available(),
                        help="also print our numbers beside this paper's table, with ours - paper")
    parser.add_argument("--published-file", default="",
                        help="as --published, from a table file of the tools/published/ format")
    args = parser.parse_args(argv)
    reference = None
    if args.published or args.published_file:
        try:
            reference = (published.load(args.published_file) if args.published_file
                         else published.load_named(args.published))
        except ValueError as err:
            parser.error(str(err))
    runs, notes = collect_runs(args.root, with_resolved=args.resolved, with_times=args.times)
    for note in notes:
        print(f"skipped: {note}", file=sys.stderr)
    if not runs:
        print(f"No finished runs under {args.root}", file=sys.stderr)
        return 1
    if args.list:
        for r in runs:
            took = "" if r.train_s is None else f"\ttrained {r.train_s:.0f}s"
            print(f"{r.method}\t{r.dataset}\tseed {r.seed}\t{r.split}\t{r.accuracy:.2f}\t"
                  f"({r.source}) {osp.relpath(r.path, args.root)}{took}")
        print()
    table = group(runs)
    print(markdown(table, with_resolved=args.resolved, with_times=args.times))
    if reference is not None:
        print()
        print(published_markdown(table, reference))
    if args.csv:
        for path in write_csvs(table, args.csv):
            print(f"CSV written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
