"""Plain-text tables of a check: the README commands, method x precision, and where the time went."""

from __future__ import annotations

import shlex

from .readme import CommandResult
from .steps import RunResult


def format_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _number(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _loss_cell(result: RunResult) -> str:
    if result.loss_finite is None:
        return "-"
    return f"yes ({result.losses[-1]:.4g})" if result.loss_finite else "NO"


def _agreement_cell(result: RunResult) -> str:
    if result.precision == "fp32":
        return "reference" if result.status == "ok" else "-"
    if result.agreement is None:
        return "-"
    sign, verdict = ("<=", "ok") if result.agreement <= result.tolerance else (">", "MISMATCH")
    return f"{result.agreement:.4f} {sign} {result.tolerance} {verdict}"


def method_table(results: list[RunResult]) -> str:
    header = ["method", "precision", "result", "step ms (median)", "peak MiB", "loss finite (last)",
              "max |dp| vs fp32 (tol)", "note"]
    rows = [[r.method, r.precision, r.status, _number(r.step_ms, ".1f"), _number(r.peak_mib, ".0f"),
             _loss_cell(r), _agreement_cell(r), r.note] for r in results]
    return format_table(header, rows)


def command_table(results: list[CommandResult]) -> str:
    rows = [[r.name, r.status, f"{r.seconds:.1f}", r.note] for r in results]
    return format_table(["README command", "result", "seconds", "note"], rows)


def command_lines(commands: dict[str, list[str]], extra: list[str]) -> str:
    """The README command lines as run (from the check folder), and the overrides appended to each."""
    lines = [f"{name}: python train.py {shlex.join(argv)}" for name, argv in commands.items()]
    return "\n".join([*lines, f"appended to each: {shlex.join(extra)}"])


def time_table(stages: dict[str, float]) -> str:
    rows = [[name, f"{seconds:.1f}"] for name, seconds in stages.items()]
    rows.append(["total", f"{sum(stages.values()):.1f}"])
    return format_table(["stage", "seconds"], rows)
