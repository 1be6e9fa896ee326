"""tools/provide_fashion_mnist.sh (shared by tools/demo.sh and tools/run_tests.sh, hence CI) and the gate of
run_tests.sh: the data comes from FASHION_MNIST_DIR, the Debian package (installed with apt-get when
possible), or a download into torchvision's folder; otherwise one line and exit 1, before anything is
installed. The package folder, apt-get and the mirror are replaced by fakes through the script's settings."""

import gzip
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PROVIDE = REPO / "tools" / "provide_fashion_mnist.sh"
HEADERS = {  # file -> IDX magic number, dimensions
    "train-images-idx3-ubyte.gz": (0x803, (60000, 28, 28)),
    "train-labels-idx1-ubyte.gz": (0x801, (60000,)),
    "t10k-images-idx3-ubyte.gz": (0x803, (10000, 28, 28)),
    "t10k-labels-idx1-ubyte.gz": (0x801, (10000,)),
}

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def write_fake_files(folder: Path, headers=HEADERS) -> Path:
    """Gzip files holding only the IDX headers (enough for the download check)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, (magic, dims) in headers.items():
        with gzip.open(folder / name, "wb") as f:
            f.write(magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims))
    return folder


def nothing_installed(tmp_path, **env) -> dict:
    """An environment with no package folder, no apt-get and no download, unless ``env`` says otherwise."""
    return {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "FMNIST_DEBIAN_DIR": str(tmp_path / "no-pkg"),
            "FMNIST_APT_GET": "", "FMNIST_MIRROR": "", **env}


def provide(tmp_path, *args, **env):
    return subprocess.run(["bash", str(PROVIDE), *args], cwd=tmp_path, capture_output=True, text=True,
                          env=nothing_installed(tmp_path, **env), timeout=60)


def test_nothing_available_gives_one_line_and_exit_1(tmp_path):
    proc = provide(tmp_path, "data")
    assert proc.returncode == 1 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "sudo apt-get install dataset-fashion-mnist" in lines[0] and "FASHION_MNIST_DIR" in lines[0]
    assert not (tmp_path / "data").exists()


def test_found_in_order_env_package_torchvision_folder(tmp_path):
    package = write_fake_files(tmp_path / "pkg")
    raw = write_fake_files(tmp_path / "data" / "FashionMNIST" / "raw")
    mine = write_fake_files(tmp_path / "mine")
    assert provide(tmp_path, "data", FASHION_MNIST_DIR=str(mine)).stdout.strip() == str(mine)
    assert provide(tmp_path, "data", FMNIST_DEBIAN_DIR=str(package)).stdout.strip() == str(package)
    assert provide(tmp_path, "data").stdout.strip() == str(raw)
    (mine / "t10k-labels-idx1-ubyte.gz").unlink()
    bad = provide(tmp_path, "data", FASHION_MNIST_DIR=str(mine))
    assert bad.returncode == 1 and "FASHION_MNIST_DIR" in bad.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="the apt-get path runs as root (or with password-less sudo)")
def test_installs_the_package_with_apt_get(tmp_path):
    package = tmp_path / "pkg"
    calls = tmp_path / "apt-calls"
    fake = tmp_path / "fake-apt-get"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n'
                    f'[ "$1" = install ] && cp {write_fake_files(tmp_path / "deb-payload")}/* {package}/\n'
                    "exit 0\n")
    fake.chmod(0o755)
    package.mkdir()
    proc = provide(tmp_path, "data", FMNIST_DEBIAN_DIR=str(package), FMNIST_APT_GET=str(fake))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(package)
    assert calls.read_text().splitlines() == ["update -qq", "install -y -qq dataset-fashion-mnist"]
    # a failing apt-get falls through to the (here disabled) download and the one-line message
    fake.write_text("#!/bin/sh\nexit 100\n")
    failed = provide(tmp_path, "data", FMNIST_DEBIAN_DIR=str(tmp_path / "empty"), FMNIST_APT_GET=str(fake))
    assert failed.returncode == 1 and "dataset-fashion-mnist" in failed.stderr


def test_downloads_into_torchvisions_folder_and_checks_the_files(tmp_path):
    mirror = write_fake_files(tmp_path / "mirror")
    proc = provide(tmp_path, "data", FMNIST_MIRROR=mirror.as_uri())
    raw = tmp_path / "data" / "FashionMNIST" / "raw"
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(raw)
    assert sorted(p.name for p in raw.iterdir()) == sorted(HEADERS)
    # a mirror serving something else: nothing is kept, exit 1
    truncated = {**HEADERS, "t10k-images-idx3-ubyte.gz": (0x803, (9, 28, 28))}
    wrong = write_fake_files(tmp_path / "wrong", truncated)
    proc = provide(tmp_path, "other", FMNIST_MIRROR=wrong.as_uri())
    assert proc.returncode == 1
    assert "t10k-images-idx3-ubyte.gz" in proc.stderr and "IDX header" in proc.stderr
    assert not (tmp_path / "other" / "FashionMNIST" / "raw" / "t10k-images-idx3-ubyte.gz").exists()


def fake_checkout(tmp_path: Path) -> Path:
    """run_tests.sh and the provider in a copy, with a bootstrap_env.sh whose "python" only records how it
    was called (and with which Fashion-MNIST settings)."""
    repo = tmp_path / "repo"
    (repo / "tools" / "toy_world").mkdir(parents=True)
    for rel in ("tools/run_tests.sh", "tools/provide_fashion_mnist.sh", "tools/toy_world/download_raw.py"):
        shutil.copy(REPO / rel, repo / rel)
    venv_bin = tmp_path / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python").write_text(
        f'#!/bin/sh\necho "$* dir=${{FASHION_MNIST_DIR:-}} require=${{REQUIRE_FASHION_MNIST:-}}" '
        f'>> {tmp_path}/python-calls\n')
    (venv_bin / "python").chmod(0o755)
    (repo / "tools" / "bootstrap_env.sh").write_text(f"echo bootstrap >> {tmp_path}/python-calls\n"
                                                     f"echo {tmp_path / 'venv'}\n")
    return repo


def run_tests(tmp_path, repo, **env):
    script = str(repo / "tools" / "run_tests.sh")
    return subprocess.run(["bash", script, "-x"], capture_output=True, text=True,
                          env=nothing_installed(tmp_path, **env), timeout=60)


def test_run_tests_refuses_to_run_without_the_data_unless_told_to_skip(tmp_path):
    repo = fake_checkout(tmp_path)
    calls = tmp_path / "python-calls"
    refused = run_tests(tmp_path, repo)
    assert refused.returncode == 1
    assert "SKIP_TOY_WORLD=1" in refused.stderr
    assert not calls.exists()  # stopped before the install

    allowed = run_tests(tmp_path, repo, SKIP_TOY_WORLD="1")
    assert allowed.returncode == 0, allowed.stderr
    assert calls.read_text().splitlines() == ["bootstrap", "-m ruff check . dir= require=",
                                              "-m pytest -q -x dir= require="]

    calls.unlink()
    package = write_fake_files(tmp_path / "pkg")
    provided = run_tests(tmp_path, repo, FMNIST_DEBIAN_DIR=str(package))
    assert provided.returncode == 0, provided.stderr
    assert calls.read_text().splitlines()[-1] == f"-m pytest -q -x dir={package} require=1"


def test_missing_data_fails_a_test_when_required(monkeypatch):
    from toy_data import missing_fashion_mnist

    monkeypatch.delenv("REQUIRE_FASHION_MNIST", raising=False)
    with pytest.raises(pytest.skip.Exception):
        missing_fashion_mnist("no files")
    monkeypatch.setenv("REQUIRE_FASHION_MNIST", "1")
    with pytest.raises(pytest.fail.Exception, match="no files"):
        missing_fashion_mnist("no files")
