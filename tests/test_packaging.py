"""Packaging: `pip install -e .` builds from pyproject.toml, and requirements-lock.txt pins versions inside
the ranges of the requirements files."""

import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from packaging.requirements import Requirement

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("dassl", "clip", "trainers", "datasets", "tools")


def _requirements(name: str) -> list[Requirement]:
    lines = (REPO / name).read_text().splitlines()
    return [Requirement(line) for line in (x.split("#")[0].strip() for x in lines)
            if line and not line.startswith("-")]


def _lock() -> dict[str, str]:
    pins = {}
    for req in _requirements("requirements-lock.txt"):
        (spec,) = req.specifier
        assert spec.operator == "==", f"requirements-lock.txt: {req} is not an exact pin"
        pins[req.name.lower().replace("_", "-")] = spec.version
    return pins


def test_pyproject_declares_build_system_dependencies_and_packages():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["build-system"]["build-backend"] == "setuptools.build_meta"
    assert "dependencies" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["dependencies"]["file"] == ["requirements.txt"]
    include = project["tool"]["setuptools"]["packages"]["find"]["include"]
    # every top-level package of the repository is installed, with its sub-packages
    top_level = sorted(p.parent.name for p in REPO.glob("*/__init__.py"))
    assert sorted(PACKAGES) == top_level
    for name in top_level:
        assert name in include and f"{name}.*" in include


def test_lock_pins_every_requirement_inside_its_range():
    pins = _lock()
    for file in ("requirements.txt", "requirements-dev.txt"):
        for req in _requirements(file):
            name = req.name.lower().replace("_", "-")
            assert name in pins, f"{file}: {req.name} has no pin in requirements-lock.txt"
            assert req.specifier.contains(pins[name], prereleases=True), (
                f"requirements-lock.txt pins {name}=={pins[name]}, outside {file}'s range {req}")
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"
    for req in _requirements("requirements.txt"):
        assert all(s.operator != "==" for s in req.specifier), f"requirements.txt pins {req} exactly"


def test_bootstrap_installs_with_the_lock_and_rehashes_it():
    script = (REPO / "tools" / "bootstrap_env.sh").read_text()
    assert "-c requirements-lock.txt" in script
    # the install stamp hashes every requirements*.txt, so a changed lock reinstalls
    assert re.search(r'cat "\$\{REPO\}"/requirements\*\.txt', script)


@pytest.mark.slow
def test_editable_install_in_a_fresh_venv(tmp_path):
    """`pip install -e . --no-deps --no-build-isolation` (offline) into a new venv; the packages then import
    from the source tree in any working directory. The venv sees this interpreter's packages (setuptools)
    through a .pth file instead of downloading them."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "requirements.txt", "README.md"):
        shutil.copy(REPO / name, src / name)
    for package in PACKAGES:
        shutil.copytree(REPO / package, src / package, ignore=shutil.ignore_patterns("__pycache__", "*.pt"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "host.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    proc = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation",
                           "--no-index", "--disable-pip-version-check", "-q", "-e", str(src)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    probe = "import importlib.util as u, sys; print(*[u.find_spec(n).origin for n in sys.argv[1:]])"
    found = subprocess.run([str(python), "-c", probe, *PACKAGES, "tools.confusion.heatmap"],
                           cwd=tmp_path, capture_output=True, text=True, check=True).stdout.split()
    assert found[:-1] == [str(src / p / "__init__.py") for p in PACKAGES]
    assert found[-1] == str(src / "tools" / "confusion" / "heatmap.py")
    metadata = subprocess.run([str(python), "-c", "import importlib.metadata as m; "
                               "print(m.requires('clip-prompt-tuning'))"],
                              cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert "torch<3,>=2.4" in metadata
