"""Config hooks: add_cfg_node semantics and extend_cfg."""

import pytest
from yacs.config import CfgNode as CN

from dassl.config import add_cfg_node, cfg_hook, extend_cfg, get_cfg_default
from dassl.config import hooks as hooks_module


@pytest.fixture
def isolated_hooks(monkeypatch):
    monkeypatch.setattr(hooks_module, "_HOOKS", dict(hooks_module._HOOKS))


def test_add_cfg_node_creates_nested_node_and_missing_keys():
    cfg = get_cfg_default()
    add_cfg_node(cfg, "TRAINER.COOP", {"N_CTX": 16, "CTX_INIT": ""})
    assert cfg.TRAINER.COOP.N_CTX == 16 and cfg.TRAINER.COOP.CTX_INIT == ""
    add_cfg_node(cfg, "TRAINER.COOP", {"N_CTX": 16, "PREC": "fp16"})  # same default + new key
    assert cfg.TRAINER.COOP.PREC == "fp16" and cfg.TRAINER.COOP.N_CTX == 16


def test_add_cfg_node_nested_dict_and_root_path():
    cfg = CN()
    add_cfg_node(cfg, "", {"TOP": 1, "SUB": {"A": (1, 2)}})
    assert cfg.TOP == 1 and cfg.SUB.A == (1, 2)
    add_cfg_node(cfg, "", {"SUB": {"A": [1, 2]}})  # list vs tuple is the same default


@pytest.mark.parametrize("second", [{"N_CTX": 4}, {"N_CTX": 16.0}])
def test_add_cfg_node_conflicting_default_raises(second):
    cfg = get_cfg_default()
    add_cfg_node(cfg, "TRAINER.COOP", {"N_CTX": 16})
    with pytest.raises(ValueError, match="TRAINER.COOP.N_CTX"):
        add_cfg_node(cfg, "TRAINER.COOP", second)


def test_add_cfg_node_value_used_as_node_raises():
    cfg = get_cfg_default()
    with pytest.raises(ValueError, match="OPTIM.LR"):
        add_cfg_node(cfg, "OPTIM.LR", {"X": 1})


def test_extend_cfg_runs_registered_hooks_idempotently(isolated_hooks):
    calls = []

    @cfg_hook
    def add_probe_cfg(cfg):
        calls.append(1)
        add_cfg_node(cfg, "TRAINER.PROBE", {"ALPHA": 0.5})

    assert add_probe_cfg.__name__ == "add_probe_cfg"  # decorator returns the function
    cfg = extend_cfg(get_cfg_default())
    extend_cfg(cfg)
    assert cfg.TRAINER.PROBE.ALPHA == 0.5 and len(calls) == 2
    assert "ALPHA" not in get_cfg_default().TRAINER.get("PROBE", {})


def test_engine_keys_come_from_a_hook_not_the_defaults():
    assert "DECIMALS" not in get_cfg_default().TEST
    cfg = extend_cfg(get_cfg_default())
    assert cfg.TEST.DECIMALS == 1
    assert cfg.TRAIN.DETERMINISTIC is False and cfg.TRAIN.PROGRESS_BAR is True


def test_cfg_hook_rejects_non_callables():
    with pytest.raises(TypeError):
        cfg_hook("not a function")
