"""Scripts started with ``sh`` (dash on Debian/Ubuntu), as published READMEs often write them, re-run
themselves under bash and behave exactly as when started with ``bash``."""

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Scripts meant to be started (a #! line); the sourced helpers (lib.sh, */common.sh) have none.
STARTED = sorted(p for p in [*REPO.glob("scripts/*/*.sh"), *REPO.glob("tools/*.sh")]
                 if p.read_text().startswith("#!"))
GUARD = '[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"'

pytestmark = pytest.mark.skipif(shutil.which("sh") is None or shutil.which("bash") is None,
                                reason="needs sh and bash")


def _run(shell: str, script: Path, *args: str) -> tuple[int, str]:
    rel = str(script.relative_to(REPO))
    proc = subprocess.run([shell, rel, *args], cwd=REPO, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "DATA": "no-such-data-root"})
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("script", STARTED, ids=lambda p: str(p.relative_to(REPO)))
def test_every_started_script_has_the_bash_guard_before_any_bash_syntax(script):
    lines = script.read_text().splitlines()
    first_code = next(line for line in lines[1:] if not line.startswith("#"))
    assert first_code.startswith(GUARD), f"{script.relative_to(REPO)}: first command must be the sh guard"


@pytest.mark.parametrize("script", [p for p in STARTED if p.parts[-3] == "scripts"],
                         ids=lambda p: str(p.relative_to(REPO)))
def test_sh_without_arguments_gives_the_bash_result(script):
    """Without arguments every script stops at its own argument check: the same message and exit code
    under sh as under bash (dash alone stops at the first bash-only line with exit code 2 or 127)."""
    by_sh, by_bash = _run("sh", script), _run("bash", script)
    assert by_bash[0] != 0
    assert by_sh == by_bash


def test_sh_with_arguments_reaches_the_scripts_own_checks():
    script = REPO / "scripts" / "capt" / "stage1.sh"
    code, output = _run("sh", script, "no_such_dataset", "1")
    assert code == 2
    assert "unknown dataset no_such_dataset" in output
