"""MGDE, the Multi-Granularity Discrepancy Expert: semantic and sample experts mixed by a router.

Every expert maps D -> D in the stage-1 student's output space, which is the teacher's text space
(768-d for a ViT-L/14 teacher; the student's 512-d CLIP feature is lifted there by PromptKD's
``VPT_image_trans``). The guidance tokens (teacher text encoder) and the bank / representative
features (student output) already live in that space, so no expert needs a projection between spaces.
All experts end in a zero-initialised layer, so the refined feature starts equal to the stage-1 one.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from clip import l2_normalize
from clip.layers import QuickGELU


class SemanticExpert(nn.Module):
    """Single-head cross-attention from the query feature to guidance tokens [B, K, D].

    Query/key/value projections start as the identity (so the expert starts as the attention-weighted
    prompt embedding); the output projection starts at zero.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.q, self.k, self.v = (nn.Linear(dim, dim, bias=False) for _ in range(3))
        for proj in (self.q, self.k, self.v):
            nn.init.eye_(proj.weight)
        self.out = nn.Linear(dim, dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.scale = 1.0 / math.sqrt(dim)

    def forward(self, query: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        q = self.q(query).unsqueeze(1)
        att = (q @ self.k(tokens).transpose(1, 2) * self.scale).softmax(dim=-1)
        return self.out((att @ self.v(tokens)).squeeze(1))


class SampleExpert(nn.Module):
    """Feed-forward block on the discrepancy u = f - mean(representatives); zero-initialised output.

    ``init_fc`` (an ``nn.Linear`` D -> H, e.g. the ``c_fc`` of the student's last vision block) seeds the
    hidden layer when its input width equals D; otherwise the hidden layer keeps PyTorch's default init.
    """

    def __init__(self, dim: int, init_fc: nn.Linear | None = None, hidden: int | None = None):
        super().__init__()
        use_init = init_fc is not None and init_fc.in_features == dim
        hidden = init_fc.out_features if use_init else (hidden or 4 * dim)
        self.fc = nn.Linear(dim, hidden)
        if use_init:
            with torch.no_grad():
                self.fc.weight.copy_(init_fc.weight.float())
                self.fc.bias.copy_(init_fc.bias.float())
        self.initialised_from_block = use_init
        self.act = QuickGELU()
        self.proj = nn.Linear(hidden, dim)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return self.proj(self.act(self.fc(u)))


class MGDE(nn.Module):
    """Router over [difference, commonality, sample x N] experts; top-k, renormalised; fused residually.

    ``f' = norm(f + beta * ||f|| * sum_e r_e E_e(.))``, which equals ``norm(norm(f) + beta * sum_e r_e E_e)``
    and returns the stage-1 feature bit for bit while the experts output zero.
    """

    def __init__(self, dim: int, n_sample_experts: int = 1, topk: int = 2, beta: float = 1.0,
                 init_fc: nn.Linear | None = None):
        super().__init__()
        self.diff = SemanticExpert(dim)
        self.common = SemanticExpert(dim)
        self.samples = nn.ModuleList(SampleExpert(dim, init_fc) for _ in range(n_sample_experts))
        self.num_experts = 2 + n_sample_experts
        self.topk = min(topk, self.num_experts)
        self.router = nn.Linear(dim, self.num_experts, bias=False)
        self.beta = nn.Parameter(torch.tensor(float(beta)))

    def route(self, query: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(router probabilities [B, E], sparse renormalised top-k weights [B, E])."""
        probs = self.router(query).softmax(dim=-1)
        top = probs.topk(self.topk, dim=-1)
        weights = torch.zeros_like(probs).scatter(1, top.indices, top.values)
        return probs, weights / weights.sum(dim=-1, keepdim=True)

    def forward(self, feature: torch.Tensor, guidance: torch.Tensor, reps: torch.Tensor | None = None,
                rep_mask: torch.Tensor | None = None):
        """feature [B, D] (unnormalised student output), guidance [B, 2, K, D], reps [B, R, D] with a
        validity mask [B, R]. Returns (refined normalised feature [B, D], router probabilities [B, E])."""
        feature = feature.float()
        query = l2_normalize(feature)
        u = query
        if reps is not None and rep_mask is not None:  # rows without representatives keep u = query
            mask = rep_mask.float().unsqueeze(-1)
            mean = (reps.float() * mask).sum(1) / mask.sum(1).clamp_min(1.0)
            u = torch.where(rep_mask.any(dim=1, keepdim=True), query - mean, query)
        outs = [self.diff(query, guidance[:, 0].float()), self.common(query, guidance[:, 1].float())]
        outs += [expert(u) for expert in self.samples]
        probs, weights = self.route(query)
        mix = (weights.unsqueeze(-1) * torch.stack(outs, dim=1)).sum(dim=1)
        scale = feature.norm(dim=-1, keepdim=True)
        return l2_normalize(feature + self.beta * scale * mix), probs
