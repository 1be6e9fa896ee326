"""Optimizer built from ``cfg.OPTIM``."""

import warnings

import torch
import torch.nn as nn

from .radam import RAdam

__all__ = ["AVAI_OPTIMS", "build_optimizer"]

AVAI_OPTIMS = ["adam", "amsgrad", "sgd", "rmsprop", "radam", "adamw"]


def _staged_param_groups(model, optim_cfg):
    if not isinstance(model, nn.Module):
        raise TypeError("OPTIM.STAGED_LR needs an nn.Module (its children are the stages)")
    if isinstance(model, nn.DataParallel):
        model = model.module
    new_layers = optim_cfg.NEW_LAYERS
    if isinstance(new_layers, str):
        new_layers = [new_layers]
    if not new_layers:
        warnings.warn("OPTIM.STAGED_LR is True but OPTIM.NEW_LAYERS is empty", stacklevel=3)
    base_params, new_params = [], []
    for name, child in model.named_children():
        (new_params if name in new_layers else base_params).extend(child.parameters())
    return [
        {"params": base_params, "lr": optim_cfg.LR * optim_cfg.BASE_LR_MULT},
        {"params": new_params},
    ]


def build_optimizer(model, optim_cfg, param_groups=None):
    """Return the optimizer named ``optim_cfg.NAME`` over ``model``'s parameters.

    ``model`` is an ``nn.Module`` or an iterable of parameters/param-group
    dicts. ``param_groups``, when given, is used as is (``STAGED_LR`` is then
    ignored). With ``STAGED_LR``, direct children named in ``NEW_LAYERS``
    train at ``LR`` and the others at ``LR * BASE_LR_MULT``.
    """
    name = optim_cfg.NAME
    if name not in AVAI_OPTIMS:
        raise ValueError(f"Unknown OPTIM.NAME '{name}'; choose from {AVAI_OPTIMS}")
    lr = optim_cfg.LR
    wd = optim_cfg.WEIGHT_DECAY

    if param_groups is not None:
        if optim_cfg.STAGED_LR:
            warnings.warn("OPTIM.STAGED_LR is ignored because param_groups were given", stacklevel=2)
        params = param_groups
    elif optim_cfg.STAGED_LR:
        params = _staged_param_groups(model, optim_cfg)
    elif isinstance(model, nn.Module):
        params = model.parameters()
    else:
        params = model

    betas = (optim_cfg.ADAM_BETA1, optim_cfg.ADAM_BETA2)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd, betas=betas)
    if name == "amsgrad":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd, betas=betas, amsgrad=True)
    if name == "sgd":
        return torch.optim.SGD(
            params,
            lr=lr,
            momentum=optim_cfg.MOMENTUM,
            weight_decay=wd,
            dampening=optim_cfg.SGD_DAMPNING,
            nesterov=optim_cfg.SGD_NESTEROV,
        )
    if name == "rmsprop":
        return torch.optim.RMSprop(
            params, lr=lr, momentum=optim_cfg.MOMENTUM, weight_decay=wd, alpha=optim_cfg.RMSPROP_ALPHA
        )
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd, betas=betas)
    return RAdam(params, lr=lr, weight_decay=wd, betas=betas)
