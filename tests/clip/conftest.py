"""Tiny OpenAI-layout CLIP weights shared by the clip tests (built once per test run)."""

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from clip.model import build_model  # noqa: E402
from clip.testing import make_random_state_dict  # noqa: E402

RESNET_SIZES = {"vision_width": 32, "image_resolution": 64, "vision_layers": (1, 1, 2, 1)}


@pytest.fixture(scope="session")
def vit_state_dict():
    return make_random_state_dict("vit", seed=0, with_meta=True)


@pytest.fixture(scope="session")
def resnet_state_dict():
    return make_random_state_dict("resnet", seed=1, with_meta=True, **RESNET_SIZES)


@pytest.fixture(scope="session")
def vit_model(vit_state_dict):
    return build_model(vit_state_dict)


@pytest.fixture(scope="session")
def deep_model():
    """12 blocks in both towers, for the deep-prompt placement checks."""
    return build_model(make_random_state_dict("vit", seed=2, vision_layers=12, text_layers=12))
