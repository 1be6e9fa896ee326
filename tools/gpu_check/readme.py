"""Run the CAPT README command lines through ``train.main``, from the check folder, as a user would."""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass

from dassl.run_dir import RESULTS_FILE

from .commands import README_COMMANDS, STAGE1_DIR, STAGE2_DIR
from .steps import quiet
from .world import World

OUTPUT_DIRS = dict(zip(README_COMMANDS, (STAGE1_DIR, STAGE2_DIR)))


@dataclass
class CommandResult:
    name: str
    status: str = "ok"
    note: str = ""
    seconds: float = 0.0
    log: str = ""

    @property
    def label(self) -> str:
        return self.name


@contextlib.contextmanager
def working_directory(path):
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def run_command(name: str, world: World, extra: list[str]) -> CommandResult:
    """``train.main(<README argv> + extra)`` in ``world.root``; ok when the run wrote its results.json."""
    import train

    out_dir = world.root / OUTPUT_DIRS[name]
    log = world.runs_dir / "readme" / f"{out_dir.parts[-3]}.log"
    result = CommandResult(name, log=str(log))
    start = time.perf_counter()
    try:
        with quiet(log), working_directory(world.root):
            train.main([*README_COMMANDS[name], *extra])
        results = json.loads((out_dir / RESULTS_FILE).read_text())
        result.note = f"{results['split']} accuracy {results['accuracy']:.1f}% (random weights)"
    except Exception as err:  # noqa: BLE001 - reported in the table, with its log
        result.status, result.note = "FAIL", f"{type(err).__name__}: {err}".splitlines()[0][:160]
    result.seconds = time.perf_counter() - start
    return result


def run_readme_commands(world: World, extra: list[str]) -> list[CommandResult]:
    """Stage 1 then stage 2; stage 2 is skipped when stage 1 failed."""
    results = []
    for name in README_COMMANDS:
        if results and results[-1].status != "ok":
            results.append(CommandResult(name, "skipped", "stage 1 failed"))
            continue
        results.append(run_command(name, world, extra))
    return results
