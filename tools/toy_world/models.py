"""Architectures of the toy CLIPs and an initialiser that writes their OpenAI-layout state dict directly.

The toy models are ordinary CLIPs of the project's architecture (ViT image tower, causal text transformer,
real BPE vocabulary of 49,408 tokens, context 77), only small. Building them from a state dict, exactly as
released weights are built, means the pretrained files exercise the same loading path as OpenAI's.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

VOCAB_SIZE = 49408
CONTEXT_LENGTH = 77


@dataclass(frozen=True)
class ToyCLIPConfig:
    """Sizes of a ViT CLIP (widths are multiples of 64: one attention head per 64 channels)."""

    embed_dim: int
    vision_width: int
    vision_layers: int
    text_width: int = 64
    text_layers: int = 4
    image_resolution: int = 32
    patch_size: int = 4
    context_length: int = CONTEXT_LENGTH
    vocab_size: int = VOCAB_SIZE

    def __post_init__(self):
        for name in ("vision_width", "text_width"):
            if getattr(self, name) % 64:
                raise ValueError(
                    f"{name} must be a multiple of 64 (heads = width / 64), got {getattr(self, name)}"
                )
        if self.image_resolution % self.patch_size:
            raise ValueError(
                f"image_resolution {self.image_resolution} is not a multiple of {self.patch_size}"
            )

    @property
    def grid(self) -> int:
        return self.image_resolution // self.patch_size

    def to_dict(self) -> dict:
        return asdict(self)


# Student and teacher of the toy world, sized so that preparing the data and pretraining both take a few
# minutes on two CPU cores and both files together stay under 20 MB:
# * the 49,408 x text_width token embedding dominates the files (6.3 MB each at the minimum width 64), so
#   both text towers are 64 wide and the vision towers share the remaining budget;
# * the student keeps a fine 8x8 patch grid (the spatial adapters of stage 2 work on it) with a narrow
#   tower; the teacher is three times wider with a coarser 4x4 grid (like ViT-L/14 next to ViT-B/16, the
#   two do not share a patch size), and its features have a different width (192 vs 128), so a
#   student -> teacher projection is exercised;
# * both have 6 vision blocks, so deep prompts of depth 3-5 fit.
TOY_MODELS: dict[str, ToyCLIPConfig] = {
    "ToyViT-S": ToyCLIPConfig(embed_dim=128, vision_width=64, vision_layers=6, patch_size=4),
    "ToyViT-L": ToyCLIPConfig(embed_dim=192, vision_width=192, vision_layers=6, patch_size=8),
}


def _normal(shape, std: float, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(shape, generator=generator) * std


def _transformer(prefix: str, width: int, layers: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Residual blocks with OpenAI's text-tower initialisation (also used here for the image tower):
    attention input std width^-1/2, output projections std width^-1/2 (2 layers)^-1/2, MLP input
    (2 width)^-1/2; biases zero, LayerNorms identity."""
    attn_std = width**-0.5
    proj_std = width**-0.5 * (2 * layers) ** -0.5
    fc_std = (2 * width) ** -0.5
    state: dict[str, torch.Tensor] = {}
    for i in range(layers):
        block = f"{prefix}.resblocks.{i}"
        state[f"{block}.attn.in_proj_weight"] = _normal((3 * width, width), attn_std, generator)
        state[f"{block}.attn.in_proj_bias"] = torch.zeros(3 * width)
        state[f"{block}.attn.out_proj.weight"] = _normal((width, width), proj_std, generator)
        state[f"{block}.attn.out_proj.bias"] = torch.zeros(width)
        state[f"{block}.ln_1.weight"] = torch.ones(width)
        state[f"{block}.ln_1.bias"] = torch.zeros(width)
        state[f"{block}.mlp.c_fc.weight"] = _normal((4 * width, width), fc_std, generator)
        state[f"{block}.mlp.c_fc.bias"] = torch.zeros(4 * width)
        state[f"{block}.mlp.c_proj.weight"] = _normal((width, 4 * width), proj_std, generator)
        state[f"{block}.mlp.c_proj.bias"] = torch.zeros(width)
        state[f"{block}.ln_2.weight"] = torch.ones(width)
        state[f"{block}.ln_2.bias"] = torch.zeros(width)
    return state


def init_state_dict(config: ToyCLIPConfig, seed: int = 0) -> dict[str, torch.Tensor]:
    """A freshly initialised fp32 CLIP state dict with OpenAI's key names and shapes.

    Initialisation follows OpenAI's CLIP (token embedding std 0.02, text positions std 0.01, class
    embedding / image positions / image projection std width^-1/2, text projection std width^-1/2,
    logit scale log(1/0.07)); the patch convolution uses a fan-in scaled normal. Deterministic for a seed
    and independent of module construction order.
    """
    g = torch.Generator().manual_seed(seed)
    vw, tw, p = config.vision_width, config.text_width, config.patch_size
    vscale = vw**-0.5
    state: dict[str, torch.Tensor] = {
        "visual.conv1.weight": _normal((vw, 3, p, p), (3 * p * p) ** -0.5, g),
        "visual.class_embedding": _normal((vw,), vscale, g),
        "visual.positional_embedding": _normal((config.grid**2 + 1, vw), vscale, g),
        "visual.ln_pre.weight": torch.ones(vw),
        "visual.ln_pre.bias": torch.zeros(vw),
    }
    state.update(_transformer("visual.transformer", vw, config.vision_layers, g))
    state.update({
        "visual.ln_post.weight": torch.ones(vw),
        "visual.ln_post.bias": torch.zeros(vw),
        "visual.proj": _normal((vw, config.embed_dim), vscale, g),
        "token_embedding.weight": _normal((config.vocab_size, tw), 0.02, g),
        "positional_embedding": _normal((config.context_length, tw), 0.01, g),
    })  # fmt: skip
    state.update(_transformer("transformer", tw, config.text_layers, g))
    state.update({
        "ln_final.weight": torch.ones(tw),
        "ln_final.bias": torch.zeros(tw),
        "text_projection": _normal((tw, config.embed_dim), tw**-0.5, g),
        "logit_scale": torch.tensor(math.log(1 / 0.07)),
    })  # fmt: skip
    return state


def count_parameters(state_dict: dict[str, torch.Tensor]) -> int:
    return sum(v.numel() for v in state_dict.values())
