"""Shared fixtures: a miniature toy world (Fashion-MNIST subset + tiny random CLIPs) for trainer tests.

The weights are random CLIPs of the toy architecture family (OpenAI layout, 32 px input, 4 px patches,
6 vision layers) so the tests check the code paths, not the quality of pretrained models. They are
written under every name the shipped configs and the published command lines ask for.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

# The test models are tiny: one thread is faster than several, and on a busy 2-core machine several threads
# per process (including the train.py subprocesses some tests start) slow the suite down many times over.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# No token-id cache file in the working folder (clip.token_cache): tests tokenize with the BPE, and the
# cache's own tests give it a file of their own.
os.environ.setdefault("CLIP_TOKEN_CACHE", "")

import pytest  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

torch.set_num_threads(1)

STUDENT_SIZES = dict(embed_dim=64, image_resolution=32, vision_layers=6, vision_width=64, patch_size=4,
                     text_width=64, text_layers=2)
TEACHER_SIZES = dict(embed_dim=96, image_resolution=32, vision_layers=6, vision_width=128, patch_size=4,
                     text_width=64, text_layers=2)
# Student-size files, teacher-size files (the published commands ask for ViT-B/16 and ViT-L/14).
STUDENT_NAMES = ("ToyViT-S", "ViT-B-16", "ViT-B-32")
TEACHER_NAMES = ("ToyViT-L", "ViT-L-14")


@dataclass
class ToyWorld:
    root: Path
    weights_dir: Path

    def run_train(self, argv: list[str]) -> None:
        """Run ``train.main`` with the toy weights directory appended as a config override."""
        import train

        opts = [] if "MODEL.CLIP_WEIGHTS_DIR" in argv else ["MODEL.CLIP_WEIGHTS_DIR", str(self.weights_dir)]
        train.main([*argv, *opts])


def write_toy_weights(directory: Path) -> Path:
    from clip.testing import make_random_state_dict, save_state_dict

    directory.mkdir(parents=True, exist_ok=True)
    student = make_random_state_dict("vit", seed=0, **STUDENT_SIZES)
    teacher = make_random_state_dict("vit", seed=1, **TEACHER_SIZES)
    for names, state in ((STUDENT_NAMES, student), (TEACHER_NAMES, teacher)):
        first = directory / f"{names[0]}.pt"
        save_state_dict({k: v.half() if v.is_floating_point() else v for k, v in state.items()}, str(first))
        for alias in names[1:]:
            (directory / f"{alias}.pt").symlink_to(first.name)
    return directory


@pytest.fixture(scope="session")
def toy_weights_dir(tmp_path_factory) -> Path:
    return write_toy_weights(tmp_path_factory.mktemp("toy_weights"))


@pytest.fixture(scope="session")
def toy_world(tmp_path_factory, toy_weights_dir) -> ToyWorld:
    """A small prepared Fashion-MNIST root (12 train / 4 val / 6 test images per class), with its shifted
    copies (edges, inverted)."""
    from tools.toy_world.prepare import PrepareConfig, prepare
    from tools.toy_world.shifted import SHIFTS, prepare_shifted
    from tools.toy_world.source import load

    root = tmp_path_factory.mktemp("toy_data")
    try:
        load(root, download=False)
    except (FileNotFoundError, RuntimeError, OSError) as err:
        from toy_data import missing_fashion_mnist

        missing_fashion_mnist(f"Fashion-MNIST source files are not installed ({err})")
    config = PrepareConfig(seed=1, pool_per_class=2, train_per_class=12, val_per_class=4, test_per_class=6)
    prepare(root, config, workers=1, verbose=False, download=False)
    for name in SHIFTS:
        prepare_shifted(root, name, workers=1, verbose=False)
    return ToyWorld(root=root, weights_dir=toy_weights_dir)


@pytest.fixture(autouse=True)
def _isolate_run(monkeypatch):
    """Keep a user's CLIP_WEIGHTS_DIR out of tests and undo the stdout tee a run installs."""
    monkeypatch.delenv("CLIP_WEIGHTS_DIR", raising=False)
    stdout = sys.stdout
    yield
    sys.stdout = stdout


@pytest.fixture
def logged_trainable():
    """Parse a run's log: the parameter names of its first "Parameters to be updated:" listing."""

    def parse(log: str) -> list[str]:
        start = log.index("Parameters to be updated:\n") + len("Parameters to be updated:\n")
        names = []
        for line in log[start:].splitlines():
            if not line.startswith("  - "):
                break
            names.append(line[4:])
        return names

    return parse
