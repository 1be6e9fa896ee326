"""The CAPT network: a frozen stage-1 PromptKD student plus the two trainable parts (adapter, MGDE).

Forward for a batch of query images over one class set (base or new):

1. frozen stage-1 pass (no adapters) -> logits z and the query feature used for retrieval;
2. SEM: confusion scores from z and the bank -> top pairs -> difference / commonality guidance tokens;
3. SAM: nearest misaligned bank samples for each pair (optional at test time);
4. adapted pass: the student ViT with Diff-Manner Adapters embeds the queries and the representatives;
5. MGDE refines the query feature; logits = scale * f' @ T^T.

Spaces: student ViT tokens (width W, adapters), student output = teacher text space (D, everything else).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from clip import l2_normalize

from .adapter import AdapterSet, dynamic_alpha
from .mgde import MGDE
from .sem import confusion_scores, gather_guidance, mine_pairs


@dataclass
class CaptSettings:
    """Plain arguments of the network (translated from ``CAPT.*`` by the trainer)."""

    topk: int = 3
    count_mode: str = "sym"
    n_rep: int = 1
    alpha: float = 0.1
    dynamic_alpha: bool = False
    alpha_s: float = 5.0
    alpha_gamma: float = 0.5


@dataclass
class CaptOutput:
    logits: torch.Tensor  # [B, C] refined logits
    stage1_logits: torch.Tensor  # [B, C]
    feature: torch.Tensor  # [B, D] refined, normalised
    router_probs: torch.Tensor  # [B, E]
    rep_features: torch.Tensor | None = None  # [B, R, D] normalised (adapted encoder)
    rep_index: torch.Tensor | None = None  # [B, R] bank indices (-1 = none)


class CaptNetwork(nn.Module):
    """Frozen ``student`` (``PromptKDStudent``) + trainable ``adapters`` and ``mgde``.

    ``text_features`` [C_all, D] are the teacher's normalised class text features; labels below
    ``num_base`` are the base classes. What stage 1 provides besides the student is passed in whole:
    ``guidance`` ("base" / "new" -> SEM tokens [2, C, C, D]), ``bank_n`` (the bank's pair counts [C_base,
    C_base]), ``retriever`` (:class:`~trainers.capt.retrieval.BankRetriever`) and ``load_images``
    (``(indices, train) -> images``, e.g. :class:`~trainers.capt.images.BankImages`). Without a bank the
    network runs SEM without counts and never retrieves.
    """

    def __init__(self, student: nn.Module, text_features: torch.Tensor, num_base: int, logit_scale,
                 adapter_layers: list[int], settings: CaptSettings, kernel_size: int = 3,
                 mlp_branch: bool = True, n_sample_experts: int = 1, router_topk: int = 2, beta: float = 1.0,
                 ffn_init: str = "last_block", guidance: dict[str, torch.Tensor] | None = None,
                 bank_n: torch.Tensor | None = None, retriever=None, load_images=None):
        super().__init__()
        self.student = student.requires_grad_(False).eval()
        self.register_buffer("text_features", text_features.float().clone(), persistent=False)
        self.register_buffer("logit_scale", torch.as_tensor(logit_scale).float().clone(), persistent=False)
        self.num_base = num_base
        self.settings = settings
        visual = student.image_encoder
        self.adapters = AdapterSet(adapter_layers, visual.width, kernel_size, mlp_branch)
        last_fc = visual.transformer.resblocks[-1].mlp.c_fc if ffn_init == "last_block" else None
        self.mgde = MGDE(text_features.shape[1], n_sample_experts, router_topk, beta, last_fc)
        self.guidance: dict[str, torch.Tensor] = dict(guidance or {})
        self.bank_n = bank_n
        self.retriever = retriever
        self.load_images = load_images  # (indices, train: bool) -> images tensor

    # ------------------------------------------------------------------ modes and parameters
    def trainable_params(self) -> list[nn.Parameter]:
        return [*self.adapters.parameters(), *self.mgde.parameters()]

    def train(self, mode: bool = True):
        super().train(mode)
        self.student.eval()  # frozen backbone: batch-norm statistics never move
        self.__dict__["_rep_cache"] = {}
        return self

    def bank_indices(self, paths) -> list[int | None]:
        """Bank index of each image path (None outside the bank): a batch's own entries, never retrieved
        for it."""
        if self.retriever is None:
            return [None] * len(paths)
        return self.retriever.indices_of(paths)

    def classes(self, which: str) -> slice:
        return slice(0, self.num_base) if which == "base" else slice(self.num_base, None)

    # ------------------------------------------------------------------ passes
    @torch.no_grad()
    def stage1(self, images: torch.Tensor, which: str = "base"):
        """Frozen stage-1 logits over a class set and the normalised query features."""
        f = self.student(images)
        return self.logit_scale * f @ self.text_features[self.classes(which)].t(), f

    def adapted_features(self, images: torch.Tensor, alpha) -> torch.Tensor:
        """Unnormalised student output with the adapters active (fp32)."""
        self.adapters.set_alpha(alpha)
        s = self.student
        tokens = s.image_encoder(images, prompts=s.vision_prompts, adapters=self.adapters)
        return s.VPT_image_trans(tokens).float()

    def rep_features(self, rep_index, slots, alpha, images, train_views: bool) -> torch.Tensor:
        """Normalised adapted features of the valid representatives, at the flat positions ``slots`` of
        ``rep_index`` [B, R] (on the images' device), in that order.

        In evaluation with a fixed alpha a bank image always gets the same feature, so it is computed once
        per evaluation (cache emptied by ``train()`` / ``eval()``).
        """
        valid = rep_index[rep_index >= 0].tolist()
        if isinstance(alpha, torch.Tensor):  # each representative uses its anchor's alpha
            alpha = alpha[slots // rep_index.shape[1]]
        device, dtype = images.device, images.dtype
        if self.training or train_views or isinstance(alpha, torch.Tensor):
            reps = self.load_images(valid, train_views).to(device, dtype)
            return l2_normalize(self.adapted_features(reps, alpha))
        cache = self.__dict__.setdefault("_rep_cache", {})
        todo = sorted({i for i in valid if i not in cache})
        if todo:
            reps = self.load_images(todo, train_views).to(device, dtype)
            cache.update(zip(todo, l2_normalize(self.adapted_features(reps, alpha))))
        return torch.stack([cache[i] for i in valid])

    def forward(self, images: torch.Tensor, which: str = "base", use_bank: bool = True,
                exclude: list[int | None] | None = None, train_views: bool = False) -> CaptOutput:
        st = self.settings
        z, query = self.stage1(images, which)
        bank_n = self.bank_n if which == "base" else None
        scores, pseudo = confusion_scores(z, bank_n, st.count_mode)
        pairs, intensity = mine_pairs(scores, pseudo, st.topk)
        guidance = gather_guidance(self.guidance[which], pseudo, pairs)
        alpha = dynamic_alpha(intensity, st.alpha_s, st.alpha_gamma) if st.dynamic_alpha else st.alpha

        f = self.adapted_features(images, alpha)
        rep_index = rep_feats = rep_mask = None
        if use_bank and which == "base" and self.retriever is not None:
            rep_index = self.retriever.retrieve(query, pseudo, pairs, st.n_rep, exclude).flatten(1)
            found = rep_index >= 0  # on the host, as retrieval returns it: no wait for the device here
            slots = found.flatten().nonzero().flatten()
            if len(slots):
                rep_mask, slots = found.to(images.device), slots.to(images.device)
                out = self.rep_features(rep_index, slots, alpha, images, train_views)
                rep_feats = out.new_zeros(rep_index.numel(), out.shape[1])
                rep_feats[slots] = out
                rep_feats = rep_feats.view(*rep_index.shape, -1)
            else:
                rep_index = None
        refined, probs = self.mgde(f, guidance, rep_feats, rep_mask)
        logits = self.logit_scale * refined @ self.text_features[self.classes(which)].t()
        return CaptOutput(logits, z, refined, probs, rep_feats, rep_index)
