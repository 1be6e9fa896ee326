"""Point 5: SIGTERM to the sweep stops the train.py it started (and that child's own children)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SLOW_TRAIN = """
import os, sys, time
out = sys.argv[sys.argv.index("--output-dir") + 1]
os.makedirs(out, exist_ok=True)
open(os.path.join(out, "pid"), "w").write(str(os.getpid()))
time.sleep(60)
"""


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie has exited but is not reaped yet
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"


def test_sigterm_to_the_sweep_reaches_its_child(tmp_path):
    (tmp_path / "configs" / "datasets").mkdir(parents=True)
    (tmp_path / "configs" / "datasets" / "alpha.yaml").write_text("DATASET:\n  NAME: alpha\n")
    (tmp_path / "slow_train.py").write_text(SLOW_TRAIN)
    spec = {"datasets": ["alpha"], "seeds": [1], "command": [sys.executable, str(tmp_path / "slow_train.py")],
            "steps": [{"name": "s", "trainer": "T", "output_dir": "out/{dataset}/seed{seed}"}]}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    sweep = subprocess.Popen([sys.executable, str(REPO / "tools" / "sweep.py"), "spec.json"], cwd=tmp_path,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pid_file = tmp_path / "out" / "alpha" / "seed1" / "pid"
    deadline = time.time() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.time() < deadline, "the sweep did not start its step"
        time.sleep(0.05)
    child = int(pid_file.read_text())
    sweep.send_signal(signal.SIGTERM)
    sweep.wait(timeout=30)
    deadline = time.time() + 10
    while _alive(child) and time.time() < deadline:
        time.sleep(0.05)
    alive = _alive(child)
    if alive:
        os.kill(child, signal.SIGKILL)
    assert not alive, "train.py kept running after the sweep was terminated"
