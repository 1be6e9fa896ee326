"""Mean and spread of the final test accuracy over the seed folders of one experiment (CoOp's log contract).

Layout: ``<dir>/<seed folder>/log.txt`` for every non-hidden entry of ``<dir>`` (or, with ``--multi-exp``,
``<dir>/<experiment>/<seed folder>/log.txt``); a resumed run's ``log.txt-<time>`` counts too: the newest
log that holds a result is read, and seed folders without one are named on stderr. In each log, only lines
after the end-of-training line (``Finish training``, also the older ``Finished training``; ``=> result``
with ``--test-log``) count, and the last ``* <keyword>: <number>%`` among them is the run's value. Prints
one line per seed and a summary ``* <keyword>: <mean>% +- <std>%`` (population std, or the 95% confidence
half-width ``1.96 std / sqrt(n)`` with ``--ci95``). ``python -m tools.parse_results`` gives base/new/H
tables instead.

Usage: python tools/parse_test_res.py output/base2new/test_new/dtd/shots_16/CoCoOp/cfg --test-log
"""

from __future__ import annotations

import argparse
import glob
import math
import os
import os.path as osp
import re
import sys

END_OF_TRAINING = ("Finish training", "Finished training")
END_OF_TEST = ("=> result",)


def visible_entries(directory: str) -> list[str]:
    if not osp.isdir(directory):
        raise FileNotFoundError(f"{directory!r} is not a directory")
    return sorted(e for e in os.listdir(directory) if not e.startswith("."))


def read_metric(log_path: str, keyword: str, start_lines) -> float | None:
    """Last ``* <keyword>: X%`` after a start line, or None when the log has none."""
    pattern = re.compile(r"\* " + re.escape(keyword) + r": ([\.\deE+-]+)%")
    started, value = False, None
    with open(log_path, errors="replace") as f:
        for raw in f:
            line = raw.strip()
            if line in start_lines:
                started = True
            match = pattern.search(line)
            if started and match:
                value = float(match.group(1))
    return value


def spread(values: list[float], ci95: bool) -> float:
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    return 1.96 * std / math.sqrt(len(values)) if ci95 else std


def logs_newest_first(folder: str) -> list[str]:
    """``log.txt`` and the ``log.txt-<time>`` files of resumed runs, newest first."""
    logs = [p for p in glob.glob(osp.join(glob.escape(folder), "log.txt*")) if osp.isfile(p)]
    return sorted(logs, key=osp.getmtime, reverse=True)


def folder_result(folder: str, keyword: str, start_lines) -> tuple[str, float] | None:
    """(log path, value) from the newest log of ``folder`` that holds a result, or None."""
    for log_path in logs_newest_first(folder):
        value = read_metric(log_path, keyword, start_lines)
        if value is not None:
            return log_path, value
    return None


def parse_directory(directory: str, keyword: str, start_lines, ci95: bool) -> float:
    """Print the per-seed values and the summary of ``directory``; return the mean.

    A resumed run writes its result into ``log.txt-<time>``: the newest log with a result counts. Seed
    folders without one are named on stderr and left out.
    """
    print(f"Parsing files in {directory}")
    values = []
    for entry in visible_entries(directory):
        folder = osp.join(directory, entry)
        if not osp.isdir(folder):
            continue
        if not logs_newest_first(folder):
            raise FileNotFoundError(f"No log.txt in {folder}")
        found = folder_result(folder, keyword, start_lines)
        if found is None:
            print(f"Warning: no '* {keyword}: X%' after {start_lines[0]!r} in any log of {folder}; "
                  "left out (unfinished or failed run?)", file=sys.stderr)
            continue
        log_path, value = found
        print(f"file: {log_path}. {keyword}: {value:.2f}%. ")
        values.append(value)
    if not values:
        raise ValueError(f"Nothing found in {directory}: no '* {keyword}: X%' after {start_lines[0]!r}")
    mean = sum(values) / len(values)
    print("===")
    print(f"Summary of directory: {directory}")
    print(f"* {keyword}: {mean:.2f}% +- {spread(values, ci95):.2f}%")
    print("===")
    return mean


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Average the final test accuracy over seed folders")
    parser.add_argument("directory", help="folder whose sub-folders (seeds) hold log.txt")
    parser.add_argument("--ci95", action="store_true", help="95%% confidence interval instead of std")
    parser.add_argument("--test-log", action="store_true", help="logs of evaluation-only runs")
    parser.add_argument("--multi-exp", action="store_true", help="one sub-folder per experiment")
    parser.add_argument("--keyword", default="accuracy", help="metric to read (default: accuracy)")
    args = parser.parse_args(argv)
    start = END_OF_TEST if args.test_log else END_OF_TRAINING
    if not args.multi_exp:
        parse_directory(args.directory, args.keyword, start, args.ci95)
        return 0
    means = [parse_directory(osp.join(args.directory, e), args.keyword, start, args.ci95)
             for e in visible_entries(args.directory)]
    print("Average performance")
    print(f"* {args.keyword}: {sum(means) / len(means):.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
