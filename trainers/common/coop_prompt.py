"""The CoOp prompt learner: learnable context tokens around class names, for a frozen CLIP text tower.

Every prompt is ``[SOS] ctx_1 .. ctx_n <name tokens> . [EOT] padding`` (class-token position ``end``;
``middle`` and ``front`` move the name, see :class:`CoOpPromptLearner`). The frozen parts of each prompt
(start token, name, full stop, end token, padding) are token embeddings kept in the class-dependent
buffers ``token_prefix`` / ``token_suffix``; only ``ctx`` is a parameter.

The learner separates *which context* from *how prompts are assembled*, so methods that modify the
context reuse the assembly unchanged::

    learner = CoOpPromptLearner(classnames, clip_model, n_ctx=4, ctx_init="a photo of a")
    emb = learner()                                          # CoOp: [C, L, W]
    emb = learner.build_prompts(learner.class_context(m))    # per-class offsets m [C, W] -> [C, L, W]
    emb = learner.build_prompts(learner.image_context(pi))   # per-image offsets pi [B, W] -> [B, C, L, W]
    text = learner.encode(clip_model, emb)                   # [C, D] or [B, C, D] (not normalised)
    logits = cosine_logits(image_features, text, clip_model.logit_scale)  # [B, C]

``class_context`` / ``image_context`` add the offset to every context token (``ctx + m_c``,
``ctx + pi_i``); any other context tensor of a shape below can be passed to ``build_prompts`` directly.
A plug-in that conditions the context of every method built on this learner (CaPT's meta-net) fills its
offsets slot instead (:mod:`trainers.common.class_offsets`): ``learner.context()`` is then ``ctx + m_c``.

Context shapes accepted by :meth:`CoOpPromptLearner.build_prompts` (W = text width):
    ``[n_ctx, W]`` shared by all classes; ``[C, n_ctx, W]`` one per class;
    ``[B, C or 1, n_ctx, W]`` one set per image (and per class, or broadcast over classes).
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from clip import l2_normalize, tokenize
from trainers.common.class_offsets import ClassOffsetSlot, add_class_offsets

log = logging.getLogger(__name__)

POSITIONS = ("end", "middle", "front")


def phrase_tokens(clip_model, phrase: str) -> tuple[torch.Tensor, int]:
    """Token embeddings [n_words, W] of the first ``n_words`` tokens of ``phrase`` and their BPE count.

    ``n_words`` counts space-separated words (underscores read as spaces), as CoOp does; the second value
    is the number of BPE tokens of the whole phrase, which is larger when a word splits into pieces.
    """
    phrase = phrase.replace("_", " ").strip()
    if not phrase:
        raise ValueError("the context init phrase is empty")
    n_words = len(phrase.split())
    ids = tokenize(phrase, context_length=_context_length(clip_model))
    n_bpe = int(ids.argmax(dim=-1)[0]) - 1
    with torch.no_grad():
        emb = clip_model.token_embedding(ids.to(clip_model.token_embedding.weight.device))
    return emb[0, 1:1 + n_words].to(clip_model.dtype), n_bpe


def _context_length(clip_model) -> int:
    return int(getattr(clip_model, "context_length", clip_model.positional_embedding.shape[0]))


def _name_lengths(clip_model, names: list[str]) -> list[int]:
    """BPE token count of each class name (the end-token position of the bare name, minus the start token)."""
    ids = tokenize(names, context_length=_context_length(clip_model))
    return [int(i) - 1 for i in ids.argmax(dim=-1)]


def _position_index(name_lens: list[int], n_ctx: int, length: int, position: str) -> torch.Tensor:
    """Per class, the source position (in the ``end`` layout) of every output position: [C, L].

    The ``end`` layout is ``[SOS, ctx (n_ctx), name (k), rest]``; ``front`` reads ``[SOS, name, ctx, rest]``
    and ``middle`` ``[SOS, ctx[:n_ctx//2], name, ctx[n_ctx//2:], rest]``. The end token keeps its position.
    """
    rows = []
    for k in name_lens:
        ctx = list(range(1, 1 + n_ctx))
        name = list(range(1 + n_ctx, 1 + n_ctx + k))
        rest = list(range(1 + n_ctx + k, length))
        if position == "end":
            order = [0] + ctx + name + rest
        elif position == "front":
            order = [0] + name + ctx + rest
        else:
            half = n_ctx // 2
            order = [0] + ctx[:half] + name + ctx[half:] + rest
        rows.append(order)
    return torch.tensor(rows, dtype=torch.long)


class CoOpPromptLearner(ClassOffsetSlot, nn.Module):
    """Learnable context ``ctx`` plus the frozen token embeddings of the class prompts.

    Args:
        classnames: class names; underscores are read as spaces; prompts are ``"<prefix> <name>."``.
        clip_model: the frozen CLIP (``token_embedding``, ``ln_final``, ``dtype``, ``context_length``).
        n_ctx: number of context tokens when ``ctx_init`` is empty.
        ctx_init: init phrase; when set, ``n_ctx`` becomes its word count and ``ctx`` starts from the
            phrase's token embeddings (generic even with ``csc``, as in CoOp).
        csc: class-specific context ``[C, n_ctx, W]`` instead of a shared ``[n_ctx, W]`` (random init only).
        class_token_position: ``end``, ``middle`` or ``front``.
        init_std: std of the random init N(0, init_std^2).
        verbose: print the Dassl-style init lines (``Initial context: "..."``, token count).

    Attributes:
        ctx: the parameter (dtype of CLIP).
        token_prefix: [C, 1, W] start-token embeddings (buffer, class-dependent).
        token_suffix: [C, L - 1 - n_ctx, W] name, full stop, end token, padding (buffer, class-dependent).
        tokenized_prompts: [C, L] token ids (not saved); ``eot_indices`` [C] their end-token positions.
        n_cls, n_ctx, prompt_prefix, name_lens, class_token_position.

    Checkpoints hold ``ctx``, ``token_prefix`` and ``token_suffix`` (CoOp's keys); the two buffers are
    dropped when loading so a learner built on other classes (base -> new) keeps its own.
    """

    def __init__(self, classnames: list[str], clip_model, n_ctx: int = 16, ctx_init: str = "",
                 csc: bool = False, class_token_position: str = "end", init_std: float = 0.02,
                 verbose: bool = True):
        super().__init__()
        if not classnames:
            raise ValueError("CoOpPromptLearner needs at least one class name")
        if class_token_position not in POSITIONS:
            raise ValueError(f"class_token_position must be one of {POSITIONS}, got {class_token_position!r}")
        dtype = clip_model.dtype
        width = clip_model.ln_final.weight.shape[0]
        n_cls = len(classnames)
        if ctx_init:
            ctx, n_bpe = phrase_tokens(clip_model, ctx_init)
            n_ctx = ctx.shape[0]
            if n_bpe != n_ctx and class_token_position != "end":
                raise ValueError(f"ctx_init {ctx_init!r} has {n_ctx} words but {n_bpe} BPE tokens; the "
                                 f"{class_token_position!r} class-token position needs one token per word")
            prompt_prefix = ctx_init.replace("_", " ").strip()
        else:
            if int(n_ctx) < 1:
                raise ValueError(f"n_ctx must be >= 1, got {n_ctx}")
            n_ctx = int(n_ctx)
            shape = (n_cls, n_ctx, width) if csc else (n_ctx, width)
            if verbose:
                log.info("Initializing class-specific contexts" if csc else "Initializing a generic context")
            ctx = torch.empty(shape, dtype=dtype).normal_(std=init_std)
            prompt_prefix = " ".join(["X"] * n_ctx)
        if verbose:
            log.info(f'Initial context: "{prompt_prefix}"')
            log.info(f"Number of context words (tokens): {n_ctx}")
        self.ctx = nn.Parameter(ctx.detach().clone())

        names = [name.replace("_", " ") for name in classnames]
        length = _context_length(clip_model)
        tokenized = tokenize([f"{prompt_prefix} {name}." for name in names], context_length=length)
        with torch.no_grad():
            device = clip_model.token_embedding.weight.device
            embedding = clip_model.token_embedding(tokenized.to(device)).to(dtype)
        self.register_buffer("token_prefix", embedding[:, :1].clone())
        self.register_buffer("token_suffix", embedding[:, 1 + n_ctx:].clone())
        self.register_buffer("tokenized_prompts", tokenized, persistent=False)
        self.name_lens = _name_lengths(clip_model, names)
        order = _position_index(self.name_lens, n_ctx, length, class_token_position)
        self.register_buffer("position_index", order, persistent=False)
        self.n_cls, self.n_ctx = n_cls, n_ctx
        self.csc = bool(csc) and not ctx_init
        self.prompt_prefix = prompt_prefix
        self.class_token_position = class_token_position

    # ----------------------------------------------------------------- shapes
    @property
    def eot_indices(self) -> torch.Tensor:
        """End-token position of every class prompt [C] (the same for all class-token positions)."""
        return self.tokenized_prompts.argmax(dim=-1)

    @property
    def ctx_dim(self) -> int:
        return self.ctx.shape[-1]

    def image_context(self, offsets: torch.Tensor, ctx: torch.Tensor | None = None) -> torch.Tensor:
        """Per-image context ``ctx + pi_i`` on every token: offsets [B, W] -> [B, 1, n_ctx, W] (or
        [B, C, n_ctx, W] with a class-specific ``ctx``), ready for :meth:`build_prompts`."""
        ctx = self.ctx if ctx is None else ctx
        if offsets.dim() != 2 or offsets.shape[-1] != ctx.shape[-1]:
            raise ValueError(f"per-image offsets must be [B, {ctx.shape[-1]}], got {tuple(offsets.shape)}")
        if ctx.dim() == 2:
            ctx = ctx.unsqueeze(0)
        return ctx.unsqueeze(0) + offsets[:, None, None, :].to(ctx.dtype)

    def class_context(self, offsets: torch.Tensor, ctx: torch.Tensor | None = None) -> torch.Tensor:
        """Per-class context ``ctx + m_c`` on every token: offsets [C, W] (or [1, W]) -> [C, n_ctx, W]."""
        return add_class_offsets(self.ctx if ctx is None else ctx, offsets, self.n_cls)

    def context(self) -> torch.Tensor:
        """The context the class prompts are built from: ``ctx`` as [C, n_ctx, W], plus the per-class
        offsets of the module in the offsets slot when a plug-in filled it (see ``class_offsets``)."""
        return self.offset_context(self.ctx, self.n_cls)

    # --------------------------------------------------------------- prompts
    def build_prompts(self, ctx: torch.Tensor | None = None) -> torch.Tensor:
        """Prompt token embeddings from a context tensor (``self.ctx`` when None).

        ``[n_ctx, W]`` or ``[C, n_ctx, W]`` -> ``[C, L, W]``; ``[B, C or 1, n_ctx, W]`` -> ``[B, C, L, W]``.
        """
        ctx = self.ctx if ctx is None else ctx
        if ctx.shape[-2:] != self.ctx.shape[-2:] or ctx.dim() not in (2, 3, 4):
            raise ValueError(f"context must be [(B,) (C,) {self.n_ctx}, {self.ctx_dim}], "
                             f"got {tuple(ctx.shape)}")
        if ctx.dim() >= 3 and ctx.shape[-3] not in (1, self.n_cls):
            raise ValueError(f"context for {ctx.shape[-3]} classes, the learner has {self.n_cls}")
        lead = ctx.shape[:-3] if ctx.dim() == 4 else ()
        dtype = self.token_prefix.dtype
        ctx = ctx.to(dtype)
        if ctx.dim() == 2:
            ctx = ctx.unsqueeze(0)
        ctx = ctx.expand(*lead, self.n_cls, -1, -1)
        prefix = self.token_prefix.expand(*lead, -1, -1, -1)
        suffix = self.token_suffix.expand(*lead, -1, -1, -1)
        prompts = torch.cat([prefix, ctx, suffix], dim=-2)
        if self.class_token_position != "end":
            index = self.position_index.to(prompts.device)
            index = index[..., None].expand(*lead, -1, -1, prompts.shape[-1])
            prompts = torch.gather(prompts, -2, index)
        return prompts

    def forward(self) -> torch.Tensor:
        """CoOp prompts from the learner's own context: [C, L, W]."""
        return self.build_prompts(self.ctx)

    def encode(self, clip_model, prompts: torch.Tensor, deep_prompts=None,
               max_sequences: int = 0) -> torch.Tensor:
        """Text features (not normalised) of prompt embeddings through ``clip_model.encode_text_embeddings``.

        [C, L, W] -> [C, D]; [B, C, L, W] -> [B, C, D]. Per-image prompts go through the text tower one
        image at a time (CoCoOp's memory profile), or, with ``max_sequences`` > 0, in groups of images
        holding at most ``max(C, max_sequences)`` prompts per pass (same values, fewer passes).
        """
        eot = self.eot_indices
        if prompts.dim() == 3:
            return clip_model.encode_text_embeddings(prompts, eot, prompts=deep_prompts)
        if prompts.dim() != 4:
            raise ValueError(f"prompts must be [C, L, W] or [B, C, L, W], got {tuple(prompts.shape)}")
        n_img, n_cls = prompts.shape[:2]
        step = max(1, int(max_sequences) // n_cls) if max_sequences else 1
        out = []
        for start in range(0, n_img, step):
            chunk = prompts[start:start + step]
            flat = chunk.reshape(-1, *chunk.shape[2:])
            feats = clip_model.encode_text_embeddings(flat, eot.repeat(chunk.shape[0]), prompts=deep_prompts)
            out.append(feats.reshape(chunk.shape[0], n_cls, -1))
        return torch.cat(out)


def cosine_logits(image_features: torch.Tensor, text_features: torch.Tensor, logit_scale) -> torch.Tensor:
    """``exp(logit_scale) * norm(f) @ norm(t)^T``: text [C, D] (shared) or [B, C, D] (per image) -> [B, C]."""
    image, text = l2_normalize(image_features), l2_normalize(text_features)
    scale = logit_scale.exp() if torch.is_tensor(logit_scale) else torch.tensor(float(logit_scale)).exp()
    if text.dim() == 2:
        return scale * image @ text.t()
    # One product per image, the image scaled first, as CoCoOp's code computes them: a batched product
    # rounds differently in the last bits.
    scaled, text = scale * image, text.to(image.dtype)
    return torch.stack([image_i @ text_i.t() for image_i, text_i in zip(scaled, text)])


def build_coop_prompt_learner(node, classnames: list[str], clip_model, **overrides) -> CoOpPromptLearner:
    """Translate a CoOp-style config node (``N_CTX``, ``CTX_INIT``, optional ``CSC`` and
    ``CLASS_TOKEN_POSITION``) into a :class:`CoOpPromptLearner`; keyword ``overrides`` win."""
    kwargs = {
        "n_ctx": int(node.N_CTX),
        "ctx_init": str(node.get("CTX_INIT", "") or ""),
        "csc": bool(node.get("CSC", False)),
        "class_token_position": str(node.get("CLASS_TOKEN_POSITION", "end")),
    }
    kwargs.update(overrides)
    return CoOpPromptLearner(classnames, clip_model, **kwargs)
