"""Independent vision-language deep prompts (the "IVLP design" of IVLP, PromptSRC and the PromptKD teacher).

The CLIP towers are used unmodified; prompts are separate modules handed to them through ``clip``'s
extension points:

* text: the learnable context ``prompt_learner.ctx`` fills positions ``1..n_t`` of every class prompt
  (layer 0), and ``text_prompts.deep[k]`` replaces those positions before text block ``k + 1``;
* vision: ``vision_prompts.shallow`` (``n_v`` tokens) is appended after the patch tokens before
  ``ln_pre``, and ``vision_prompts.deep[k]`` replaces them before vision block ``k + 1``.

A depth ``J`` therefore means prompts in layers ``0..J-1`` (depth 9 -> 8 deep tensors per branch). The
state-dict layout (``prompt_learner.*``, ``image_encoder.*``, ``text_encoder.*``, ``logit_scale``,
``vision_prompts.*``, ``text_prompts.*``) is the one ``clip.checkpoint_keys`` maps upstream checkpoints to.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from clip import TextDeepPrompts, TextEncoder, VisionPromptLearner, l2_normalize, tokenize
from trainers.common.base import EvalCacheMixin

# Upstream's IVLP-design CLIP casts its vision prompts and deep text prompts with ``.half()`` before they
# join the token sequence, in every precision; in fp32 runs their values (and gradients) are rounded to
# fp16 there. Keeping that rounding makes seeded fp32 runs equal upstream's; it is a no-op for fp16 towers.
UPSTREAM_PROMPT_DTYPE = torch.float16


@dataclass(frozen=True)
class IVLPDesign:
    """Token counts and depths of the two prompt branches, plus the text-context initialisation."""

    n_ctx_vision: int = 4
    n_ctx_text: int = 4
    depth_vision: int = 9
    depth_text: int = 9
    ctx_init: str = "a photo of a"

    @classmethod
    def from_cfg(cls, node) -> IVLPDesign:
        """Read ``N_CTX_VISION``, ``N_CTX_TEXT``, ``PROMPT_DEPTH_VISION``, ``PROMPT_DEPTH_TEXT``, ``CTX_INIT``
        from a trainer config node (``cfg.TRAINER.IVLP`` etc.)."""
        return cls(
            n_ctx_vision=int(node.N_CTX_VISION),
            n_ctx_text=int(node.N_CTX_TEXT),
            depth_vision=int(node.PROMPT_DEPTH_VISION),
            depth_text=int(node.PROMPT_DEPTH_TEXT),
            ctx_init=str(node.CTX_INIT),
        )

    def check(self, clip_model, where: str = "IVLP design") -> None:
        """Raise a clear error when the design does not fit the CLIP it is applied to."""
        if self.depth_text < 1:
            raise ValueError(
                f"{where}: PROMPT_DEPTH_TEXT must be >= 1 for independent V-L prompting "
                f"(got {self.depth_text}); layer 0 holds the learnable text context"
            )
        if self.n_ctx_text < 1:
            raise ValueError(f"{where}: N_CTX_TEXT must be >= 1, got {self.n_ctx_text}")
        if self.depth_vision < 0:
            raise ValueError(f"{where}: PROMPT_DEPTH_VISION must be >= 0, got {self.depth_vision}")
        if not hasattr(clip_model.visual, "transformer"):
            raise ValueError(
                f"{where}: vision prompts need a ViT image tower, got {type(clip_model.visual).__name__}"
            )
        v_layers, t_layers = clip_model.visual.transformer.layers, clip_model.transformer.layers
        if self.depth_vision > v_layers:
            raise ValueError(
                f"{where}: PROMPT_DEPTH_VISION {self.depth_vision} exceeds the {v_layers} "
                f"vision layers of this CLIP"
            )
        if self.depth_text > t_layers:
            raise ValueError(
                f"{where}: PROMPT_DEPTH_TEXT {self.depth_text} exceeds the {t_layers} "
                f"text layers of this CLIP"
            )


class IVLPBuildDraws:
    """The prompt tensors upstream's modified CLIP (IVLP design) draws while it is built, drawn in the same
    places.

    Upstream creates the vision prompts of layer 0 right after the patch embedding and those of layers
    ``1..J-1`` right after their block (text blocks likewise), each N(0, 0.02^2) from the global RNG, in
    between CLIP's own initialisation draws. Handed to ``load_clip`` as ``build_hook``, this object draws
    the same tensors at the same points; ``VLPromptModel`` then starts from them instead of drawing its own,
    so a seeded run sees upstream's random streams. Nothing is drawn when CLIP is built without its
    initialisation draws (``MODEL.CLIP_INIT_DRAWS False``).
    """

    def __init__(self, design: IVLPDesign, init_std: float = 0.02):
        self.design = design
        self.init_std = init_std
        self.vision: list[torch.Tensor] = []
        self.text: list[torch.Tensor] = []

    @property
    def initial_vision(self) -> list[torch.Tensor] | None:
        """The drawn vision prompts ([shallow, deep...]), None when nothing was drawn."""
        return self.vision or None

    @property
    def initial_text(self) -> list[torch.Tensor] | None:
        """The drawn deep text prompts, None when nothing was drawn."""
        return self.text or None

    def _draw(self, n_tokens: int, width: int) -> torch.Tensor:
        return nn.init.normal_(torch.empty(n_tokens, width), std=self.init_std)

    def __call__(self, tower: str, position: int, width: int) -> None:
        design = self.design
        prompted_block = 1 <= position < design.depth_vision
        if tower == "visual" and design.depth_vision > 0 and (position == -1 or prompted_block):
            self.vision.append(self._draw(design.n_ctx_vision, width))
        elif tower == "text" and 1 <= position < design.depth_text:
            self.text.append(self._draw(design.n_ctx_text, width))


def load_prompted_clip(cfg, design: IVLPDesign, device, precision: str, name: str | None = None):
    """CLIP ``name`` (default ``MODEL.BACKBONE.NAME``) built as upstream builds its IVLP-design CLIP, the
    prompt tensors of ``design`` drawn inside the build, checked against ``INPUT.SIZE``.
    Returns (CLIP on ``device``, the drawn prompts)."""
    from trainers.common.backbone import load_clip

    drawn = IVLPBuildDraws(design)
    clip_model = load_clip(cfg, name=name, precision=precision, build_hook=drawn).to(device)
    check_input_size(cfg, clip_model, name=name)
    return clip_model, drawn


class VLPromptLearner(nn.Module):
    """Learnable text context shared by all classes, and the fixed token embeddings around it.

    Prompt text per class: ``"<prefix> <class name>."``. With ``ctx_init`` set and ``n_ctx <= 4`` the
    prefix is the whole phrase and ``ctx`` starts as the embeddings of its first ``n_ctx`` tokens;
    otherwise the prefix is ``"X " * n_ctx`` and ``ctx`` starts as N(0, 0.02^2).

    Buffers ``token_prefix`` (start token) and ``token_suffix`` (everything after the context) depend on
    the class list; they are saved, and dropped again when a checkpoint is loaded.
    """

    def __init__(
        self,
        token_embedding: nn.Embedding,
        classnames: list[str],
        n_ctx: int,
        ctx_init: str = "",
        context_length: int = 77,
    ):
        super().__init__()
        if not classnames:
            raise ValueError("VLPromptLearner needs at least one class name")
        width = token_embedding.weight.shape[1]
        device = token_embedding.weight.device
        phrase = ctx_init.replace("_", " ").strip() if ctx_init else ""
        if phrase and n_ctx <= 4:
            ids = tokenize(phrase, context_length).to(device)
            n_phrase = int(ids.argmax(dim=-1)) - 1
            if n_phrase < n_ctx:
                raise ValueError(
                    f"CTX_INIT {ctx_init!r} has {n_phrase} tokens, fewer than N_CTX_TEXT {n_ctx}"
                )
            with torch.no_grad():
                ctx = token_embedding(ids)[0, 1 : 1 + n_ctx].float().clone()
            prefix = phrase
        else:
            ctx = torch.randn(n_ctx, width) * 0.02
            prefix = " ".join(["X"] * n_ctx)
        self.ctx = nn.Parameter(ctx.to(device))
        self.n_ctx = n_ctx
        self.n_cls = len(classnames)
        self.prompt_prefix = prefix
        prompts = [f"{prefix} {name.replace('_', ' ')}." for name in classnames]
        tokens = tokenize(prompts, context_length).to(device)
        with torch.no_grad():
            embedding = token_embedding(tokens)
        self.register_buffer("token_prefix", embedding[:, :1].clone())
        self.register_buffer("token_suffix", embedding[:, 1 + n_ctx :].clone())
        self.register_buffer("eot_indices", tokens.argmax(dim=-1), persistent=False)

    def forward(self) -> torch.Tensor:
        """Token embeddings of every class prompt, [C, L, W], in the dtype of the frozen embeddings."""
        ctx = self.ctx.to(self.token_prefix.dtype).unsqueeze(0).expand(self.n_cls, -1, -1)
        return torch.cat([self.token_prefix, ctx, self.token_suffix], dim=1)


class VLPromptModel(EvalCacheMixin, nn.Module):
    """CLIP with independent vision and text deep prompts; ``forward(images)`` returns class logits.

    Holds the CLIP image tower (``image_encoder``), the text tower without its token embedding
    (``text_encoder``), ``logit_scale`` and the three prompt modules. Trainable: ``prompt_learner.ctx``
    and every vision/text prompt tensor (``trainable_params``). Class text features are encoded once per
    evaluation (``EvalCacheMixin``), never per test batch. ``drawn``: the prompt values drawn while
    ``clip_model`` was built (:class:`IVLPBuildDraws`), used as the prompts' starting values.
    """

    def __init__(self, clip_model, classnames: list[str], design: IVLPDesign,
                 drawn: IVLPBuildDraws | None = None):
        super().__init__()
        design.check(clip_model)
        self.design = design
        self.prompt_learner = VLPromptLearner(
            clip_model.token_embedding,
            classnames,
            design.n_ctx_text,
            design.ctx_init,
            clip_model.context_length,
        )
        self.image_encoder = clip_model.visual
        self.text_encoder = TextEncoder(clip_model)
        self.logit_scale = clip_model.logit_scale
        device = clip_model.logit_scale.device
        self.vision_prompts = VisionPromptLearner(
            design.n_ctx_vision, clip_model.visual.width, design.depth_vision,
            initial=drawn.initial_vision if drawn is not None else None,
            token_dtype=UPSTREAM_PROMPT_DTYPE,
        ).to(device)
        self.text_prompts = TextDeepPrompts(
            design.n_ctx_text, clip_model.transformer.width, design.depth_text,
            initial=drawn.initial_text if drawn is not None else None,
            token_dtype=UPSTREAM_PROMPT_DTYPE,
        ).to(device)

    @property
    def dtype(self) -> torch.dtype:
        return self.image_encoder.conv1.weight.dtype

    def trainable_params(self) -> list[nn.Parameter]:
        return [self.prompt_learner.ctx, *self.vision_prompts.parameters(), *self.text_prompts.parameters()]

    def encode_image(self, images: torch.Tensor, prompted: bool = True) -> torch.Tensor:
        """Image features [B, D] (not normalised); ``prompted=False`` gives the zero-shot CLIP features."""
        return self.image_encoder(images, prompts=self.vision_prompts if prompted else None)

    def encode_text(self) -> torch.Tensor:
        """Prompted text features of every class, [C, D] (not normalised)."""
        learner = self.prompt_learner
        return self.text_encoder(learner(), learner.eot_indices, prompts=self.text_prompts)

    def text_features(self) -> torch.Tensor:
        """Normalised class text features; computed once per evaluation."""
        return self.cached("text", lambda: l2_normalize(self.encode_text()))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        image = l2_normalize(self.encode_image(images))
        text = self.text_features()
        return self.logit_scale.exp() * image.float() @ text.float().t()


def check_input_size(cfg, clip_model, name: str | None = None) -> None:
    """Prompted ViTs have a fixed number of patch positions: the images must have CLIP's resolution."""
    size = int(cfg.INPUT.SIZE[0])
    resolution = int(clip_model.visual.input_resolution)
    if size != resolution:
        raise ValueError(
            f"INPUT.SIZE {tuple(cfg.INPUT.SIZE)} does not match the input resolution {resolution} "
            f"of {name or cfg.MODEL.BACKBONE.NAME}; set INPUT.SIZE ({resolution}, {resolution})"
        )
