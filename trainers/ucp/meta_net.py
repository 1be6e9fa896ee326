"""The meta-net that maps a class condition (a TCI vector) to one context offset per class.

Parameter names and shapes follow the published checkpoints: ``down.weight`` [in, H], ``down.bias`` [H],
``up.weight`` [H, out], ``up.bias`` [out] - weights are stored (in, out) and applied as ``x @ W + b``,
the transpose of ``nn.Linear``. At width 512 that is 33,312 parameters for H = 32 and 66,112 for H = 64.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

META_NET_MODULES = ("mlp", "linear", "attn")


class AffineMap(nn.Module):
    """``x @ weight + bias`` with ``weight`` [in, out]; both start as U(-1/sqrt(out), 1/sqrt(out))."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.bias = nn.Parameter(torch.empty(out_features)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.out_features)
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.weight.dtype) @ self.weight
        return x + self.bias if self.bias is not None else x

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


class MetaNetMLP(nn.Module):
    """``up(dropout(leaky_relu(down(x), 0.01)))`` - the default meta-net."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, dropout: float = 0.0):
        super().__init__()
        if hidden_dim < 1:
            raise ValueError(f"TRAINER.UCP.HIDDEN_DIM must be >= 1, got {hidden_dim}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"TRAINER.UCP.DROPOUT must be in [0, 1), got {dropout}")
        self.down = AffineMap(in_dim, hidden_dim)
        self.up = AffineMap(hidden_dim, out_dim)
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.down(x), negative_slope=0.01)
        h = F.dropout(h, self.dropout, self.training)
        return self.up(h)


class MetaNetAttention(nn.Module):
    """Classes attend to each other: ``softmax(q k^T / sqrt(d)) v`` over the class axis."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.q = nn.Linear(in_dim, out_dim)
        self.k = nn.Linear(in_dim, out_dim)
        self.v = nn.Linear(in_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.q.weight.dtype)
        q, k, v = self.q(x), self.k(x), self.v(x)
        attn = torch.softmax(q @ k.t() / math.sqrt(k.shape[-1]), dim=-1)
        return attn @ v


def build_meta_net(module: str, in_dim: int, out_dim: int, hidden_dim: int = 32,
                   dropout: float = 0.0) -> nn.Module:
    """``module`` "mlp" (default), "linear" (one affine map) or "attn" (self-attention over classes)."""
    if module == "mlp":
        return MetaNetMLP(in_dim, hidden_dim, out_dim, dropout)
    if module == "linear":
        return AffineMap(in_dim, out_dim)
    if module == "attn":
        return MetaNetAttention(in_dim, out_dim)
    raise ValueError(f"TRAINER.UCP.MODULE must be one of {META_NET_MODULES}, got {module!r}")
