"""What the terminal shows of a demo stage: a progress line while it runs, its log's tail if it fails.

A stage's process writes its stdout and stderr to ``demo_console.txt`` in its run folder (``train.py`` tees
its stdout into ``log.txt`` there as well), so the terminal gets one line per stage instead of every config
dump and system report; ``--verbose`` hands the child the terminal instead.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

CONSOLE_FILE = "demo_console.txt"  # the stage's whole stdout + stderr (log.txt misses stderr)
TAIL_LINES = 30  # lines of a failed stage's console shown on the terminal
POLL_S = 0.5
_EPOCH = re.compile(r"epoch \[(\d+)/(\d+)\]")


def format_duration(seconds: float) -> str:
    """``45s``, ``2m05s``, ``1h02m``: short enough for one line per stage."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def display_path(path: Path) -> str:
    """``path`` relative to the working folder when inside it (shorter terminal lines), else absolute."""
    try:
        return str(Path(path).absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def read_tail(path: Path, lines: int = TAIL_LINES, max_bytes: int = 64 * 1024) -> list[str]:
    """The last ``lines`` lines of ``path``; a line redrawn with ``\\r`` (progress bars) as last drawn."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - max_bytes))
        text = f.read().decode("utf-8", errors="replace")
    shown = []
    for line in text.split("\n"):  # not splitlines(): it splits at "\r" too
        states = [s for s in line.split("\r") if s.strip()]
        if states:
            shown.append(states[-1])
    return shown[-lines:]


def newest_log(run_dir: Path) -> Path:
    """The log of the latest run in ``run_dir``: ``log.txt``, or the ``log.txt-<time>`` a resumed run writes
    beside it (``dassl.utils.logger.setup_logger``); ``log.txt`` when there is none yet."""
    logs = [p for p in run_dir.glob("log.txt*") if p.name == "log.txt" or p.name.startswith("log.txt-")]
    return max(logs, key=lambda p: p.stat().st_mtime) if logs else run_dir / "log.txt"


def write_console_header(console: Path, argv: list[str]) -> None:
    """Start a launch's part of ``console`` with its time and command line (a resumed stage appends)."""
    console.parent.mkdir(parents=True, exist_ok=True)
    with open(console, "a") as out:
        out.write(f"== {time.strftime('%Y-%m-%d %H:%M:%S')} python {' '.join(argv)}\n")


def launch_train(argv: list[str], console: Path | None, cwd: Path, tick: Callable[[], None]) -> int:
    """Run ``python <argv>`` in ``cwd``; return its exit code.

    Its stdout and stderr are appended to ``console`` (None: this terminal), and ``tick`` is called every
    :data:`POLL_S` seconds while it runs. The child shares the terminal's process group, so Ctrl-C stops it.
    """
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if console is None:
        return subprocess.run([sys.executable, *argv], cwd=cwd, env=env).returncode
    write_console_header(console, argv)
    with open(console, "a") as out:
        child = subprocess.Popen([sys.executable, *argv], cwd=cwd, env=env, stdout=out,
                                 stderr=subprocess.STDOUT)
        try:
            while child.poll() is None:
                tick()
                time.sleep(POLL_S)
        finally:
            if child.poll() is None:  # interrupted here (Ctrl-C reached the child too): let it finish exiting
                child.wait()
    return child.returncode


class ProgressLine:
    """One terminal line redrawn in place while a stage runs: spinner, elapsed time, epoch from its console.

    Drawn only on a terminal (a piped or logged demo gets the finished-stage lines alone).
    """

    def __init__(self, prefix: str, console: Path, stream: TextIO):
        self.prefix, self.console, self.stream = prefix, console, stream
        self.enabled = stream.isatty()
        self.start = time.time()
        self.spinner = itertools.cycle("|/-\\")
        self.width = 0

    def _epoch(self) -> str:
        try:
            found = _EPOCH.findall("\n".join(read_tail(self.console, 5, 8192)))
        except OSError:
            return ""
        return f"  epoch {found[-1][0]}/{found[-1][1]}" if found else ""

    def __call__(self) -> None:
        if not self.enabled:
            return
        elapsed = format_duration(time.time() - self.start)
        text = f"{self.prefix}  {next(self.spinner)} {elapsed}{self._epoch()}"
        text = text[: shutil.get_terminal_size().columns - 1]  # a wrapped line could not be redrawn
        self.stream.write("\r" + text.ljust(self.width))
        self.stream.flush()
        self.width = len(text)

    def clear(self) -> None:
        if self.enabled and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
            self.width = 0
