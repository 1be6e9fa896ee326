"""RAdam (Liu et al., "On the Variance of the Adaptive Learning Rate and Beyond", ICLR 2020).

``RAdam`` rectifies Adam's update while the variance estimate is unreliable
(early steps); there it either takes an SGD-with-momentum step
(``degenerated_to_sgd``) or skips the update. ``PlainRAdam`` is the same rule
without the fallback option, and ``AdamW`` is Adam with decoupled weight decay
and an optional linear learning-rate warm-up. Weight decay is decoupled in
all three.
"""

import math

import torch
from torch.optim.optimizer import Optimizer

__all__ = ["RAdam", "PlainRAdam", "AdamW"]


def _check_hparams(lr, eps, betas):
    if lr < 0.0:
        raise ValueError(f"Invalid learning rate: {lr}")
    if eps < 0.0:
        raise ValueError(f"Invalid epsilon value: {eps}")
    for i, beta in enumerate(betas):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta}")


def _rectification(step, beta2):
    """Return the variance rectification factor, or None while it is undefined (rho <= 4)."""
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    beta2_t = beta2**step
    rho_t = rho_inf - 2.0 * step * beta2_t / (1.0 - beta2_t)
    if rho_t <= 4.0:
        return None
    return math.sqrt(((rho_t - 4.0) * (rho_t - 2.0) * rho_inf) / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))


class RAdam(Optimizer):
    def __init__(
        self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, degenerated_to_sgd=True
    ):
        _check_hparams(lr, eps, betas)
        self.degenerated_to_sgd = degenerated_to_sgd
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("RAdam does not support sparse gradients")
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                t = state["step"]
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.mul_(beta1).add_(p.grad, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)

                rect = _rectification(t, beta2)
                bias1 = 1.0 - beta1**t
                if rect is not None:
                    step_size = group["lr"] * rect * math.sqrt(1.0 - beta2**t) / bias1
                    update = m / (v.sqrt() + group["eps"])
                elif self.degenerated_to_sgd:
                    step_size = group["lr"] / bias1
                    update = m
                else:
                    continue
                if group["weight_decay"] != 0:
                    p.mul_(1.0 - group["weight_decay"] * group["lr"])
                p.add_(update, alpha=-step_size)
        return loss


class PlainRAdam(RAdam):
    """RAdam whose early steps fall back to SGD with momentum."""

    def __init__(
        self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, degenerated_to_sgd=True
    ):
        super().__init__(params, lr, betas, eps, weight_decay, degenerated_to_sgd)


class AdamW(Optimizer):
    """Adam with decoupled weight decay and a linear warm-up over ``warmup`` steps."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, warmup=0):
        _check_hparams(lr, eps, betas)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, warmup=warmup))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                t = state["step"]
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.mul_(beta1).add_(p.grad, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                lr = group["lr"]
                if group["warmup"] > t:
                    lr = 1e-8 + t * lr / group["warmup"]
                step_size = lr * math.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)
                if group["weight_decay"] != 0:
                    p.mul_(1.0 - group["weight_decay"] * lr)
                p.addcdiv_(m, v.sqrt().add_(group["eps"]), value=-step_size)
        return loss
