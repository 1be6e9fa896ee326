"""ClipTrainer's shared config check: PREC is validated once, for every trainer, before anything is built."""

import pytest
import torch
from yacs.config import CfgNode

from trainers.common.base import ClipTrainer
from trainers.coop import CoOp


def _trainer(cls):
    return object.__new__(cls)  # check_cfg runs before __init__ sets anything up


@pytest.mark.parametrize("prec", ["fp16", "fp32", "amp", "bf16"])
def test_known_precisions_pass(prec):
    cfg = CfgNode({"TRAINER": {"COOP": {"PREC": prec, "CLASS_TOKEN_POSITION": "end"}}})
    _trainer(CoOp).check_cfg(cfg)
    assert _trainer(CoOp)._read_precision(cfg) == prec


def test_unknown_precision_names_the_key_of_the_trainer():
    cfg = CfgNode({"TRAINER": {"COOP": {"PREC": "half", "CLASS_TOKEN_POSITION": "end"}}})
    message = r"TRAINER\.COOP\.PREC must be one of fp16, fp32, amp, bf16, got 'half'"
    with pytest.raises(ValueError, match=message):
        _trainer(CoOp).check_cfg(cfg)
    # A trainer without its own node reads TRAINER.PREC (the CaPT-repository layout).
    with pytest.raises(ValueError, match=r"TRAINER\.PREC must be"):
        _trainer(ClipTrainer).check_cfg(CfgNode({"TRAINER": {"PREC": "half"}}))
    assert _trainer(ClipTrainer)._read_precision(CfgNode({"TRAINER": {}})) == "fp32"


def _on(device: str, prec: str) -> CoOp:
    trainer = _trainer(CoOp)
    trainer.cfg = CfgNode({"TRAINER": {"COOP": {"PREC": prec, "CLASS_TOKEN_POSITION": "end"}}})
    trainer.device = torch.device(device)
    return trainer


@pytest.mark.parametrize(("prec", "dtype"), [("fp32", None), ("fp16", None), ("amp", None),
                                             ("bf16", torch.bfloat16)])
def test_autocast_on_the_cpu(prec, dtype):
    trainer = _on("cpu", prec)
    assert trainer.autocast_dtype() == dtype and trainer.weight_precision == "fp32"
    with trainer.autocast():
        out = torch.ones(2, 2) @ torch.ones(2, 2)
    assert out.dtype == (dtype or torch.float32)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize(("prec", "dtype", "weights"), [("fp32", None, "fp32"), ("fp16", None, "fp16"),
                                                        ("amp", torch.float16, "fp32"),
                                                        ("bf16", torch.bfloat16, "fp32")])
def test_autocast_on_cuda(prec, dtype, weights):
    trainer = _on("cuda", prec)
    if prec == "bf16" and not torch.cuda.is_bf16_supported():
        with pytest.raises(RuntimeError, match="does not support bfloat16"):
            trainer.autocast_dtype()
        return
    assert trainer.autocast_dtype() == dtype and trainer.weight_precision == weights
    with trainer.autocast():
        out = torch.ones(2, 2, device="cuda") @ torch.ones(2, 2, device="cuda")
    assert out.dtype == (dtype or torch.float32)
