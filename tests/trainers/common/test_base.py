"""ClipTrainer's shared config check: PREC is validated once, for every trainer, before anything is built."""

import pytest
from yacs.config import CfgNode

from trainers.common.base import ClipTrainer
from trainers.coop import CoOp


def _trainer(cls):
    return object.__new__(cls)  # check_cfg runs before __init__ sets anything up


@pytest.mark.parametrize("prec", ["fp16", "fp32", "amp"])
def test_known_precisions_pass(prec):
    cfg = CfgNode({"TRAINER": {"COOP": {"PREC": prec, "CLASS_TOKEN_POSITION": "end"}}})
    _trainer(CoOp).check_cfg(cfg)
    assert _trainer(CoOp)._read_precision(cfg) == prec


def test_unknown_precision_names_the_key_of_the_trainer():
    cfg = CfgNode({"TRAINER": {"COOP": {"PREC": "bf16", "CLASS_TOKEN_POSITION": "end"}}})
    with pytest.raises(ValueError, match=r"TRAINER\.COOP\.PREC must be fp16, fp32 or amp, got 'bf16'"):
        _trainer(CoOp).check_cfg(cfg)
    # A trainer without its own node reads TRAINER.PREC (the CaPT-repository layout).
    with pytest.raises(ValueError, match=r"TRAINER\.PREC must be"):
        _trainer(ClipTrainer).check_cfg(CfgNode({"TRAINER": {"PREC": "half"}}))
    assert _trainer(ClipTrainer)._read_precision(CfgNode({"TRAINER": {}})) == "fp32"
