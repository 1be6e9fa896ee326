"""Head registry with the MLP head of Dassl."""

import logging

import torch.nn as nn

from dassl.utils import Registry, check_availability

log = logging.getLogger(__name__)

__all__ = ["HEAD_REGISTRY", "MLP", "build_head"]

HEAD_REGISTRY = Registry("HEAD")

_ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU}


class MLP(nn.Module):
    """Stack of Linear [-> BatchNorm] -> activation [-> Dropout] blocks."""

    def __init__(self, in_features=2048, hidden_layers=(), activation="relu", bn=True, dropout=0.0):
        super().__init__()
        if isinstance(hidden_layers, int):
            hidden_layers = [hidden_layers]
        if not hidden_layers:
            raise ValueError("MLP head needs at least one hidden layer size (MODEL.HEAD.HIDDEN_LAYERS)")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"Unknown MLP activation '{activation}'; choose from {list(_ACTIVATIONS)}")
        layers = []
        prev = in_features
        for width in hidden_layers:
            layers.append(nn.Linear(prev, width))
            if bn:
                layers.append(nn.BatchNorm1d(width))
            layers.append(_ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            prev = width
        self.mlp = nn.Sequential(*layers)
        self.out_features = prev

    def forward(self, x):
        return self.mlp(x)


HEAD_REGISTRY.register(MLP)


def mlp(**kwargs):
    return MLP(**kwargs)


HEAD_REGISTRY.register(mlp)


def build_head(name, verbose=True, **kwargs):
    """Instantiate the head registered as ``name`` with ``kwargs``."""
    check_availability(name, HEAD_REGISTRY.registered_names())
    if verbose:
        log.info(f"Head: {name}")
    return HEAD_REGISTRY.get(name)(**kwargs)
