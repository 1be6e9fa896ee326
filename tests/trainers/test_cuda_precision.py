"""Mixed precision on a real GPU: fp16 weights, fp16/bf16 autocast and loss scaling.

These run only where CUDA is available (marker ``cuda``); on a CPU machine they are skipped with that
reason. For each trainer the toy model is built once per ``PREC`` with the same weights and initial
prompts; the low-precision logits must agree with fp32 and one training step must stay finite.
The tolerance is on the largest logit difference relative to the largest fp32 logit: 5e-3 for fp16
weights or fp16 autocast, 5e-2 for bf16 autocast (bf16 keeps 8 mantissa bits against fp16's 11).
"""

import pytest
import torch
from vl_toy import run, toy_argv

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

TRAINERS = {  # trainer -> (config, PREC key)
    "CoOp": ("CoOp/toy_vit_s.yaml", "TRAINER.COOP.PREC"),
    "PromptSRC": ("PromptSRC/toy_vit_s.yaml", "TRAINER.PROMPTSRC.PREC"),
    "UCPCoOp": ("UCPCoOp/toy_vit_s.yaml", "TRAINER.PREC"),
}
RELATIVE_TOL = {"fp16": 5e-3, "amp": 5e-3, "bf16": 5e-2}


def _build(toy_world, out, name, prec):
    config, key = TRAINERS[name]
    return run(toy_argv(toy_world, name, config, out / f"{name}_{prec}", key, prec, "DATASET.NUM_SHOTS", "2",
                        "DATASET.SUBSAMPLE_CLASSES", "base", "TRAIN.COLLECT_ENV_INFO", "False",
                        "TRAINER.UCP.CACHE_DIR" if name.startswith("UCP") else "TEST.DECIMALS",
                        str(out / "tci") if name.startswith("UCP") else "1",
                        flags=["--no-train"]))


@pytest.fixture(scope="module", params=sorted(TRAINERS))
def built(request, toy_world, tmp_path_factory):
    out = tmp_path_factory.mktemp("precision")
    precisions = ("fp32", "fp16", "amp", "bf16")
    return request.param, {p: _build(toy_world, out, request.param, p) for p in precisions}


def _images(trainer, n=16):
    dataset = trainer.test_loader.dataset
    return torch.stack([dataset[i]["img"] for i in range(n)]).to(trainer.device)


def test_weights_and_autocast_follow_prec(built):
    _, trainers = built
    assert trainers["fp16"].weight_precision == "fp16" and trainers["fp16"].autocast_dtype() is None
    assert trainers["amp"].autocast_dtype() == torch.float16 and trainers["amp"].scaler is not None
    assert trainers["bf16"].autocast_dtype() == torch.bfloat16 and trainers["bf16"].scaler is None
    for prec in ("fp32", "amp", "bf16"):
        assert trainers[prec].weight_precision == "fp32"


def test_low_precision_logits_agree_with_fp32(built):
    name, trainers = built
    images = _images(trainers["fp32"])
    with torch.no_grad():
        for t in trainers.values():
            t.set_model_mode("eval")
        reference = trainers["fp32"].model_inference(images).float()
        for prec in ("fp16", "amp", "bf16"):
            logits = trainers[prec].model_inference(images).float()
            assert torch.isfinite(logits).all(), f"{name} {prec}: non-finite logits"
            diff = ((logits - reference).abs().max() / reference.abs().max()).item()
            print(f"{name} {prec}: largest logit difference to fp32 {diff:.2e} (relative)")
            assert diff <= RELATIVE_TOL[prec], f"{name} {prec}: relative logit difference {diff:.2e} to fp32"


@pytest.mark.parametrize("prec", ["fp16", "amp", "bf16"])
def test_one_training_step_is_finite_and_moves_the_prompts(built, prec):
    name, trainers = built
    trainer = trainers[prec]
    trainer.set_model_mode("train")
    trainer.batch_idx, trainer.num_batches = 0, 2
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    summary = trainer.forward_backward(next(iter(trainer.train_loader_x)))
    assert all(torch.isfinite(torch.tensor(v)) for v in summary.values()), f"{name} {prec}: {summary}"
    moved = [n for n, p in trainer.model.named_parameters()
             if p.requires_grad and not torch.equal(p, before[n])]
    assert moved, f"{name} {prec}: no trainable tensor changed in one step"
