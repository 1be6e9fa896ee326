"""Optimizer construction from OPTIM.* keys."""

import pytest
import torch
import torch.nn as nn

from dassl.config import get_cfg_default
from dassl.optim import build_optimizer
from dassl.optim.radam import AdamW, PlainRAdam, RAdam


def optim_cfg(**kw):
    cfg = get_cfg_default().OPTIM
    cfg.update(kw)
    return cfg


class TwoPart(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Linear(3, 3)
        self.classifier = nn.Linear(3, 2)


@pytest.mark.parametrize(
    "name, cls",
    [("sgd", torch.optim.SGD), ("adam", torch.optim.Adam), ("amsgrad", torch.optim.Adam),
     ("adamw", torch.optim.AdamW), ("rmsprop", torch.optim.RMSprop), ("radam", RAdam)],
)
def test_names_map_to_optimizers_with_config_hyperparameters(name, cls):
    opt = build_optimizer(TwoPart(), optim_cfg(NAME=name, LR=0.02))
    assert type(opt) is cls
    group = opt.param_groups[0]
    assert group["lr"] == 0.02 and group["weight_decay"] == 5e-4
    assert sum(len(g["params"]) for g in opt.param_groups) == 4
    if name == "amsgrad":
        assert group["amsgrad"] is True
    if name == "sgd":
        assert group["momentum"] == 0.9 and group["nesterov"] is False


def test_unknown_optimizer_is_rejected():
    with pytest.raises(ValueError, match="sgd"):
        build_optimizer(TwoPart(), optim_cfg(NAME="lion"))


def test_staged_lr_groups():
    model = TwoPart()
    opt = build_optimizer(model, optim_cfg(NAME="sgd", LR=0.1, STAGED_LR=True, NEW_LAYERS=("classifier",)))
    base, new = opt.param_groups
    assert base["lr"] == pytest.approx(0.01) and new["lr"] == 0.1
    assert {id(p) for p in new["params"]} == {id(p) for p in model.classifier.parameters()}


def test_param_groups_override_staged_lr():
    model = TwoPart()
    groups = [{"params": model.classifier.parameters(), "lr": 0.5}]
    with pytest.warns(UserWarning, match="ignored"):
        opt = build_optimizer(model, optim_cfg(NAME="sgd", STAGED_LR=True), param_groups=groups)
    assert len(opt.param_groups) == 1 and opt.param_groups[0]["lr"] == 0.5


@pytest.mark.parametrize("cls", [RAdam, PlainRAdam, AdamW])
def test_radam_family_minimises_a_quadratic(cls):
    torch.manual_seed(0)
    w = nn.Parameter(torch.randn(5) * 3)
    opt = cls([w], lr=0.1)
    start = (w.detach() ** 2).sum().item()
    for _ in range(200):
        opt.zero_grad()
        (w**2).sum().backward()
        opt.step()
    assert (w.detach() ** 2).sum().item() < 0.05 * start


def test_radam_first_steps_fall_back_to_sgd_with_momentum():
    w = nn.Parameter(torch.tensor([1.0]))
    opt = RAdam([w], lr=0.1, betas=(0.9, 0.999))
    w.grad = torch.tensor([2.0])
    opt.step()
    # rho_1 <= 4: step = lr * m / (1 - beta1) = 0.1 * 0.2 / 0.1
    assert w.item() == pytest.approx(1.0 - 0.2)
    skip = RAdam([nn.Parameter(torch.tensor([1.0]))], lr=0.1, degenerated_to_sgd=False)
    p = skip.param_groups[0]["params"][0]
    p.grad = torch.tensor([2.0])
    skip.step()
    assert p.item() == 1.0
