"""Small utilities: registry, availability errors, JSON, seeding, RNG capture."""

import json
import random

import numpy as np
import pytest
import torch

from dassl.utils import (
    Registry,
    check_availability,
    get_rng_state,
    listdir_nohidden,
    set_random_seed,
    set_rng_state,
    write_json,
    write_json_atomic,
)


def test_registry():
    reg = Registry("THING")

    @reg.register()
    class Alpha:
        pass

    def beta():
        pass

    reg.register(beta)
    assert reg.get("Alpha") is Alpha and reg.registered_names() == ["Alpha", "beta"]
    with pytest.raises(KeyError, match="already registered"):
        reg.register(beta)
    reg.register(beta, force=True)
    with pytest.raises(KeyError, match="not registered"):
        reg.get("gamma")


def test_check_availability_message():
    with pytest.raises(ValueError) as err:
        check_availability("CoOpp", ["CoOp", "CoCoOp", "KgCoOp"])
    msg = str(err.value)
    assert "CoOpp" in msg and "['CoOp', 'CoCoOp', 'KgCoOp']" in msg and "did you mean 'CoOp'" in msg
    check_availability("CoOp", ["CoOp"])


def test_json_writers(tmp_path):
    write_json({"a": 1}, str(tmp_path / "d" / "x.json"))
    assert json.loads((tmp_path / "d" / "x.json").read_text()) == {"a": 1}
    write_json_atomic({"b": [1, 2]}, str(tmp_path / "y.json"))
    assert json.loads((tmp_path / "y.json").read_text()) == {"b": [1, 2]}
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_listdir_nohidden(tmp_path):
    for name in ("b", ".hidden", "A", "a"):
        (tmp_path / name).write_text("")
    assert listdir_nohidden(str(tmp_path), sort=True) == ["A", "a", "b"]


def test_rng_state_round_trip_through_weights_only(tmp_path):
    set_random_seed(7)
    random.random()
    np.random.rand()
    torch.rand(1)
    state = get_rng_state()
    torch.save(state, tmp_path / "rng.pt")
    expected = (random.random(), float(np.random.rand()), torch.rand(3))
    set_random_seed(123)
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    got = (random.random(), float(np.random.rand()), torch.rand(3))
    assert got[0] == expected[0] and got[1] == expected[1] and torch.equal(got[2], expected[2])


def test_system_report_is_read_in_process(monkeypatch):
    """The start-up report must not start subprocesses (package managers, nvidia-smi): seconds per run."""
    import subprocess

    import torch

    from dassl.utils import collect_env_info

    def refuse(*args, **kwargs):
        raise AssertionError(f"subprocess started: {args}")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    report = collect_env_info()
    assert f"PyTorch version: {torch.__version__}" in report and "Is CUDA available" in report
