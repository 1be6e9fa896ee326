"""One CLIP implementation: OpenAI-layout towers, loader, tokenizer and prompt/adapter extension points."""

from clip import config  # noqa: F401  (registers MODEL.CLIP_WEIGHTS_DIR)
from clip.freeze import freeze, set_trainable, trainable_params
from clip.layout import TokenLayout, grid_to_tokens, tokens_to_grid
from clip.loader import (
    available_models,
    build_preprocess,
    load,
    load_model,
    load_state_dict,
    pixel_stats,
    resolve_weights,
)
from clip.model import CLIP, build_model, convert_weights, l2_normalize
from clip.prompts import CoupledVisionPrompts, TextDeepPrompts, VisionPromptLearner
from clip.text import TextEncoder, eot_pool
from clip.tokenizer import tokenize

__all__ = [
    "CLIP", "CoupledVisionPrompts", "TextDeepPrompts", "TextEncoder", "TokenLayout", "VisionPromptLearner",
    "available_models", "build_model", "build_preprocess", "convert_weights", "eot_pool", "freeze",
    "grid_to_tokens", "l2_normalize", "load", "load_model", "load_state_dict", "pixel_stats",
    "resolve_weights", "set_trainable", "tokenize", "tokens_to_grid", "trainable_params",
]
