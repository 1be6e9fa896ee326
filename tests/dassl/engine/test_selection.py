"""TEST.PROTOCOL: clean never deploys or loads a checkpoint selected on the val split by default."""

import pytest
from yacs.config import CfgNode

from dassl.engine import selection


def cfg(protocol=None, final="best_val"):
    test = {"FINAL_MODEL": final}
    if protocol is not None:
        test["PROTOCOL"] = protocol
    return CfgNode({"TEST": test})


def test_published_follows_the_config_and_clean_deploys_the_last_epoch():
    assert selection.final_model(cfg("published")) == "best_val"
    assert selection.final_model(cfg()) == "best_val"  # configs built without the engine keys
    assert selection.final_model(cfg("clean")) == "last_step"
    assert not selection.is_clean(cfg("published")) and not selection.is_clean(cfg())
    assert selection.is_clean(cfg("clean"))
    assert not selection.is_clean(None)  # a bare trainer without a config


def test_unknown_protocol_names_the_key():
    with pytest.raises(ValueError, match="TEST.PROTOCOL"):
        selection.final_model(cfg("fair"))
