"""Run ``train.py`` command lines in processes forked from one that has already imported them.

A fresh interpreter per demo stage spends seconds importing torch, torchvision and every trainer, and
reading the CLIP vocabulary, before the stage's own work starts. Here multiprocessing's ``forkserver``
start method starts one clean server process (not a fork of the caller), which imports
:mod:`tools.train_preload` once; each stage is then a fork of that server. A stage is still a process of
its own (its globals, seeds, log redirection and exit code), given the same argv and working folder as
``python train.py ...``: only the import work is shared.

Where forkserver is not available, :func:`launch_train` starts ``python train.py`` as before.
"""

from __future__ import annotations

import multiprocessing
import os
import runpy
import sys
from collections.abc import Callable
from pathlib import Path

from tools.demo_console import POLL_S, launch_train, write_console_header

PRELOAD = ["tools.train_preload"]


def run_script(argv: list[str], console: str | None, cwd: str) -> None:
    """In the forked child: run ``python <argv>`` in ``cwd``, stdout and stderr appended to ``console``."""
    os.chdir(cwd)
    sys.path.insert(0, cwd)  # where `python <script>` puts the script's folder
    os.environ["PYTHONUNBUFFERED"] = "1"  # as a launched interpreter has it (its own children inherit it)
    # multiprocessing made forkserver this process's default start method; a fresh interpreter has the
    # platform's (fork on Linux), which is what the data loader workers are made with
    multiprocessing.set_start_method(None, force=True)
    if console is not None:
        fd = os.open(console, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.reconfigure(line_buffering=True)  # the progress line reads the console as it grows
    sys.argv = list(argv)
    runpy.run_path(argv[0], run_name="__main__")


def forkserver_context():
    """The forkserver context with :data:`PRELOAD` set; None where the platform has no forkserver."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return None
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def start_server() -> None:
    """Start the server's imports now, without waiting for them, so that they overlap the caller's own
    work (the demo's toy-world check); the first stage then waits only for what is left of them."""
    if forkserver_context() is not None:
        from multiprocessing import forkserver

        forkserver.ensure_running()


def launch_forked(argv: list[str], console: Path | None, cwd: Path, tick: Callable[[], None]) -> int:
    """:func:`tools.demo_console.launch_train`'s contract (``python <argv>`` in ``cwd``, output appended to
    ``console`` or this terminal, ``tick`` every :data:`POLL_S` s, the exit code) in a forked process."""
    context = forkserver_context()
    if context is None:
        return launch_train(argv, console, cwd, tick)
    if console is not None:
        write_console_header(console, argv)
    child = context.Process(target=run_script, args=(list(argv), None if console is None else str(console),
                                                     str(cwd)), name=f"python {argv[0]}")
    child.start()
    try:
        while child.exitcode is None:
            tick()
            child.join(POLL_S)
    finally:
        child.join()  # interrupted here (Ctrl-C reached the child too): let it finish exiting
    return child.exitcode
