"""``init_draws``: building a CLIP consumes the global torch RNG exactly as OpenAI's ``build_model``.

The expected generator states were recorded once by running OpenAI's ``clip.model.build_model`` (as vendored
by the CoOp repository) on the same tiny state dicts after ``torch.manual_seed(1)``; they are numbers, so
the test needs no upstream code. Any change in module order, init calls or shapes changes them.
"""

import hashlib

import pytest
import torch

from clip.model import build_model
from clip.testing import make_random_state_dict

OPENAI_STATE_AFTER_BUILD = {
    "vit": ("e6d7d1af70b477d65c5330affe02f2a5c84abc813e944efdd77850a6919b51d7", 0.3443823456764221),
    "resnet": ("28778986e2b92f24465cab7e0b90c6866baa3360e875dd4a15856066427c0b6a", 0.7733685970306396),
}


def _state_sha() -> str:
    return hashlib.sha256(torch.get_rng_state().numpy().tobytes()).hexdigest()


@pytest.mark.parametrize("kind", sorted(OPENAI_STATE_AFTER_BUILD))
def test_init_draws_leave_the_generator_where_openai_build_model_leaves_it(kind):
    state_dict = make_random_state_dict(kind, seed=0)
    torch.manual_seed(1)
    build_model(state_dict, init_draws=True)
    sha, next_uniform = OPENAI_STATE_AFTER_BUILD[kind]
    assert _state_sha() == sha
    assert torch.rand(1).item() == next_uniform


@pytest.mark.parametrize("kind", sorted(OPENAI_STATE_AFTER_BUILD))
def test_meta_build_draws_nothing_and_both_builds_hold_the_same_weights(kind):
    state_dict = make_random_state_dict(kind, seed=0)
    torch.manual_seed(1)
    before = torch.get_rng_state()
    fast = build_model(state_dict)
    assert torch.equal(torch.get_rng_state(), before)
    drawn = build_model(state_dict, init_draws=True)
    fast_state, drawn_state = fast.state_dict(), drawn.state_dict()
    assert fast_state.keys() == drawn_state.keys()
    for key, value in fast_state.items():
        assert torch.equal(value, drawn_state[key]), key
