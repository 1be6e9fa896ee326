"""The demo's written report: a bar chart of base / new / H per method and ``report.md`` beside it.

``report.md`` holds the table (with the model-selection protocol it was made under), links to the chart
and to the CAPT confusion heat-maps that exist, and the ``train.py`` command of every stage of every row,
shell-quoted with the demo's own paths, so that any row can be reproduced by hand.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from dassl.atomic_io import atomic_path, write_text_atomic

CHART_FILE = "accuracy.png"
REPORT_FILE = "report.md"
CHART_SIZE = (10.0, 4.8)  # inches, whatever the number of methods: the chart's cost does not grow
COLUMNS = ("base", "new", "H")
# What each TEST.PROTOCOL means for the numbers (dassl/engine/selection.py).
PROTOCOL_NOTES = {
    "clean": "every run deploys its last epoch; nothing is selected on test images",
    "published": "the configs' own selection, as the published code (e.g. PromptKD's best epoch on the "
                 "base test split)",
}


def plot_accuracy(records: list[dict], path: Path, title: str) -> Path:
    """Grouped bars (base, new, H) per method to ``path`` (PNG); a missing value draws no bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=CHART_SIZE)
    width = 0.8 / len(COLUMNS)
    for k, column in enumerate(COLUMNS):
        xs = [i + (k - 1) * width for i, r in enumerate(records) if r[column] is not None]
        values = [r[column] for r in records if r[column] is not None]
        bars = ax.bar(xs, values, width, label=column)
        ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=1)
    ax.set_xticks(range(len(records)), [r["method"] for r in records], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 118)  # room above 100 % for the value labels and the legend
    ax.set_yticks(range(0, 101, 20))
    ax.set_title(title, fontsize=10)
    ax.legend(ncols=len(COLUMNS), fontsize=8, loc="upper right")
    fig.tight_layout()
    try:
        with atomic_path(str(path)) as tmp:
            fig.savefig(tmp, dpi=100, format="png")
    finally:
        plt.close(fig)
    return path


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def markdown_table(records: list[dict]) -> str:
    lines = ["| Method | Base | New | H | Note |", "|---|---:|---:|---:|---|"]
    for r in records:
        cells = [r["method"], _cell(r["base"]), _cell(r["new"]), _cell(r["H"]), r["note"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def command_line(argv: list[str]) -> str:
    """The shell command that runs ``train.py`` with ``argv`` (from the repository root)."""
    return shlex.join(["python", *argv])


def report_text(heading: str, protocol: str, records: list[dict], commands: list[list[tuple[str, list[str]]]],
                chart: str, figures: list[tuple[str, str]]) -> str:
    """``report.md``'s text.

    Args:
        commands: per table row, ``(stage name, train.py argv)`` of each of its stages.
        chart, figures: links relative to the report's folder; ``figures`` as ``(caption, link)``.
    """
    parts = [
        f"# {heading}",
        f"Model selection: `TEST.PROTOCOL {protocol}` ({PROTOCOL_NOTES[protocol]}). Test accuracy (%) on "
        "base and new classes; H is their harmonic mean. Toy numbers: they show that the pipeline works, not "
        "how the methods rank with real CLIP weights.",
        markdown_table(records),
        f"![base / new / H per method]({chart})",
    ]
    if figures:
        parts.append("## CAPT confusion heat-maps")
        parts.extend(f"{caption}\n\n![{caption}]({link})" for caption, link in figures)
    parts.append("## Commands")
    parts.append("Run from the repository root, in this order: a row may read the runs of the rows above it "
                 "(PromptKD reads the teacher's run, CAPT freezes PromptKD's base run).")
    for record, stage_argvs in zip(records, commands):
        lines = [f"### {record['method']}", "", "```bash"]
        for name, argv in stage_argvs:
            lines += [f"# {name}", command_line(argv)]
        lines.append("```")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def write_report(output: Path, heading: str, protocol: str, records: list[dict],
                 commands: list[list[tuple[str, list[str]]]], figures: list[tuple[str, Path]]) -> Path:
    """Write the chart and ``report.md`` into ``output``; ``figures`` are ``(caption, PNG)`` to link (missing
    files are left out). Returns the report's path."""
    chart = plot_accuracy(records, output / CHART_FILE, f"{heading} (TEST.PROTOCOL {protocol})")
    links = [(caption, Path(os.path.relpath(path, output)).as_posix())
             for caption, path in figures if path.is_file()]
    text = report_text(heading, protocol, records, commands, chart.name, links)
    path = output / REPORT_FILE
    write_text_atomic(text, str(path))
    return path
