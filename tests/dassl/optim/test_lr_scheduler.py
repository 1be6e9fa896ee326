"""Epoch-wise LR schedules (values per epoch, state round trips, no torch warnings)."""

import io
import math
import warnings

import pytest
import torch

from dassl.config import get_cfg_default
from dassl.optim import build_lr_scheduler, build_optimizer
from dassl.optim.lr_scheduler import ConstantWarmupScheduler


def optim_cfg(**overrides):
    cfg = get_cfg_default().OPTIM
    cfg.update(NAME="sgd", LR_SCHEDULER="cosine", WARMUP_EPOCH=1, WARMUP_TYPE="constant", WARMUP_CONS_LR=1e-5)
    cfg.update(overrides)
    return cfg


def lr_per_epoch(cfg, param_groups=None):
    """LR each epoch trains with, stepping the scheduler once after each epoch."""
    params = [torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))]
    optimizer = build_optimizer(params, cfg, param_groups=param_groups and [{"params": [p]} for p in params])
    scheduler = build_lr_scheduler(optimizer, cfg)
    seen = []
    for _ in range(cfg.MAX_EPOCH):
        seen.append([g["lr"] for g in optimizer.param_groups])
        for p in params:
            p.grad = torch.ones_like(p)
        optimizer.step()
        scheduler.step()
    return seen


def test_cosine_with_constant_warmup_brief_example():
    lrs = [g[0] for g in lr_per_epoch(optim_cfg(LR=0.002, MAX_EPOCH=20))]
    assert lrs[0] == 1e-5
    for k in range(1, 20):
        assert lrs[k] == pytest.approx(0.002 * 0.5 * (1 + math.cos(math.pi * (k - 1) / 20)), rel=1e-9)
    assert lrs[-1] > 0


def test_spec_vectors_t10():
    expected = [1.0000e-05, 3.5000e-03, 3.4143e-03, 3.1658e-03, 2.7786e-03, 2.2908e-03,
                1.7500e-03, 1.2092e-03, 7.2138e-04, 3.3422e-04]
    lrs = [g[0] for g in lr_per_epoch(optim_cfg(LR=0.0035, MAX_EPOCH=10))]
    assert [f"{x:.4e}" for x in lrs] == [f"{x:.4e}" for x in expected]


def test_spec_vectors_t20():
    lrs = [g[0] for g in lr_per_epoch(optim_cfg(LR=0.005, MAX_EPOCH=20))]
    assert [f"{x:.4e}" for x in lrs[:3]] == ["1.0000e-05", "5.0000e-03", "4.9692e-03"]
    assert [f"{x:.4e}" for x in lrs[-2:]] == ["2.7248e-04", "1.2236e-04"]


def test_warmup_applies_to_every_param_group():
    lrs = lr_per_epoch(optim_cfg(LR=0.01, MAX_EPOCH=4), param_groups=True)
    assert lrs[0] == [1e-5, 1e-5] and lrs[1] == [0.01, 0.01]


def test_linear_warmup_then_cosine():
    cfg = optim_cfg(LR=0.01, MAX_EPOCH=10, WARMUP_EPOCH=4, WARMUP_TYPE="linear")
    lrs = [g[0] for g in lr_per_epoch(cfg)]
    assert lrs[0] == 1e-5
    assert lrs[1:4] == pytest.approx([0.0025, 0.005, 0.0075])
    assert lrs[4] == pytest.approx(0.01)
    assert lrs[5] == pytest.approx(0.01 * 0.5 * (1 + math.cos(math.pi / 10)))


def test_no_warmup_cosine_and_step_schedules():
    lrs = [g[0] for g in lr_per_epoch(optim_cfg(LR=0.1, MAX_EPOCH=4, WARMUP_EPOCH=-1))]
    assert lrs == pytest.approx([0.1 * 0.5 * (1 + math.cos(math.pi * e / 4)) for e in range(4)])
    lrs = [g[0] for g in lr_per_epoch(optim_cfg(LR=1.0, MAX_EPOCH=4, WARMUP_EPOCH=-1,
                                                 LR_SCHEDULER="single_step", STEPSIZE=(2,)))]
    assert lrs == pytest.approx([1.0, 1.0, 0.1, 0.1])
    lrs = [g[0] for g in lr_per_epoch(optim_cfg(LR=1.0, MAX_EPOCH=4, WARMUP_EPOCH=-1,
                                                 LR_SCHEDULER="multi_step", STEPSIZE=(1, 3)))]
    assert lrs == pytest.approx([1.0, 0.1, 0.1, 0.01])


def test_bad_scheduler_settings_raise():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="cosine"):
        build_lr_scheduler(opt, optim_cfg(LR_SCHEDULER="poly"))
    with pytest.raises(ValueError, match="WARMUP_TYPE"):
        build_lr_scheduler(opt, optim_cfg(WARMUP_TYPE="exp"))
    with pytest.raises(TypeError):
        build_lr_scheduler(opt, optim_cfg(LR_SCHEDULER="single_step", STEPSIZE=(1.5,), WARMUP_EPOCH=-1))


def test_building_and_stepping_emits_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lr_per_epoch(optim_cfg(LR=0.01, MAX_EPOCH=3))


@pytest.mark.parametrize("sched_name", ["cosine", "multi_step", "single_step"])
def test_state_dict_round_trips_with_weights_only(sched_name):
    cfg = optim_cfg(LR=0.01, MAX_EPOCH=6, LR_SCHEDULER=sched_name, STEPSIZE=(2, 4))
    param = torch.nn.Parameter(torch.zeros(1))

    def fresh():
        opt = build_optimizer([param], cfg)
        return opt, build_lr_scheduler(opt, cfg)

    opt, sched = fresh()
    for _ in range(3):
        opt.step()
        sched.step()
    buf = io.BytesIO()
    torch.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}, buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)

    opt2, sched2 = fresh()
    opt2.load_state_dict(state["optimizer"])
    sched2.load_state_dict(state["scheduler"])
    for _ in range(3):
        opt.step()
        sched.step()
        opt2.step()
        sched2.step()
        assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]


def test_accepts_upstream_state_with_pickled_successor():
    cfg = optim_cfg(LR=0.01, MAX_EPOCH=6)
    param = torch.nn.Parameter(torch.zeros(1))
    opt = build_optimizer([param], cfg)
    sched = build_lr_scheduler(opt, cfg)
    for _ in range(3):
        opt.step()
        sched.step()
    # The original Dassl stored the successor object itself (and a ``verbose`` flag).
    upstream_state = {k: v for k, v in sched.__dict__.items() if k != "optimizer"}
    upstream_state["verbose"] = False
    # Same order as resuming a trainer: build both, then load optimizer, then scheduler.
    opt2 = build_optimizer([param], cfg)
    sched2 = build_lr_scheduler(opt2, cfg)
    opt2.load_state_dict(opt.state_dict())
    assert isinstance(sched2, ConstantWarmupScheduler)
    sched2.load_state_dict(upstream_state)
    assert sched2.successor is not sched.successor
    assert sched2.successor.last_epoch == sched.successor.last_epoch == 2
    opt.step()
    sched.step()
    opt2.step()
    sched2.step()
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
