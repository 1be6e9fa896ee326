"""Demo stages forked from a preloaded server behave like ``python <script> ...`` started afresh: argv,
working folder, ``__main__``, output appended to the console file, exit code."""

import subprocess
import sys

import pytest

from tools import forked_train

SCRIPT = """
import os, sys
print("argv", sys.argv[1:], "cwd", os.getcwd(), "main", __name__ == "__main__")
print("to stderr", file=sys.stderr)
code = sys.argv[1]
sys.exit(int(code) if code.isdigit() else code)
"""


@pytest.fixture
def script(tmp_path, monkeypatch):
    monkeypatch.setattr(forked_train, "PRELOAD", [])  # the server need not import train.py here
    folder = tmp_path / "repo"
    folder.mkdir()
    (folder / "script.py").write_text(SCRIPT)
    return folder


@pytest.mark.skipif(sys.platform == "win32", reason="no forkserver")
@pytest.mark.parametrize("code", ["0", "3"])
def test_argv_folder_main_and_exit_code_as_a_fresh_interpreter(script, tmp_path, code):
    console = tmp_path / "stage" / "console.txt"
    ticks = []
    returned = forked_train.launch_forked(["script.py", code], console, script, lambda: ticks.append(1))
    assert returned == int(code)
    lines = console.read_text().splitlines()
    assert lines[0].startswith("== ") and lines[0].endswith(f"python script.py {code}")
    assert f"argv ['{code}'] cwd {script} main True" in lines
    assert "to stderr" in lines
    assert ticks  # the progress line was redrawn while it ran


def test_an_exit_message_is_a_failure_written_to_the_console(script, tmp_path):
    console = tmp_path / "console.txt"
    console.write_text("earlier run\n")
    argv = ["script.py", "Config error: bad key"]
    assert forked_train.launch_forked(argv, console, script, lambda: None) == 1
    text = console.read_text()
    assert text.startswith("earlier run\n") and "Config error: bad key" in text


def test_the_stage_starts_its_own_processes_as_a_fresh_interpreter_would(script, tmp_path):
    # forkserver children get forkserver as their default start method; the stage's data loader workers
    # must be made with the platform's default instead (a fork of the stage, not a new server)
    (script / "method.py").write_text("import multiprocessing as mp; print('method', mp.get_start_method())")
    console = tmp_path / "console.txt"
    assert forked_train.launch_forked(["method.py"], console, script, lambda: None) == 0
    fresh = subprocess.run([sys.executable, "method.py"], cwd=script, capture_output=True, text=True)
    assert fresh.stdout.strip() in console.read_text().splitlines()
