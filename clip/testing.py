"""Tiny OpenAI-format CLIP state dicts and TorchScript archives, for tests and the toy world.

The state dicts have the exact key layout of the released weights, so anything that loads OpenAI files
(this package, open_clip) loads them too. Values are rounded to fp16-representable numbers, like the
released weights, so fp16 and fp32 builds start from identical values.
"""

import warnings

import torch
from torch import nn

from clip.model import CLIP
from dassl.atomic_io import atomic_path

META_KEYS = ("input_resolution", "context_length", "vocab_size")


def tiny_config(kind: str = "vit", *, embed_dim: int = 64, image_resolution: int = 32, vision_layers=2,
                vision_width: int = 64, patch_size: int = 8, context_length: int = 77,
                vocab_size: int = 49408, text_width: int = 64, text_layers: int = 2) -> dict:
    """Arguments of ``CLIP`` for a small model. ``kind`` "vit" or "resnet" (then ``vision_layers`` is
    a 4-tuple or an int used for all stages, and ``image_resolution`` a multiple of 32)."""
    if kind not in ("vit", "resnet"):
        raise ValueError(f"kind must be 'vit' or 'resnet', got {kind!r}")
    if kind == "resnet":
        layers = tuple(vision_layers) if isinstance(vision_layers, (tuple, list)) else (vision_layers,) * 4
        if image_resolution % 32:
            raise ValueError(f"a ResNet tower needs a resolution divisible by 32, got {image_resolution}")
        patch = None
    else:
        layers, patch = int(vision_layers), patch_size
    return {"embed_dim": embed_dim, "image_resolution": image_resolution, "vision_layers": layers,
            "vision_width": vision_width, "vision_patch_size": patch, "context_length": context_length,
            "vocab_size": vocab_size, "transformer_width": text_width,
            "transformer_heads": max(text_width // 64, 1), "transformer_layers": text_layers}


def _perturb_constants(state_dict: dict, generator: torch.Generator) -> None:
    """Give constant-initialised tensors (norm weights, biases, BN statistics) random values, so that a
    comparison between implementations also checks that every one of them is used correctly."""
    for key, value in state_dict.items():
        if not value.is_floating_point() or value.dim() == 0 or value.numel() < 2:
            continue
        flat = value.flatten()
        if not torch.all(flat == flat[0]):
            continue
        noise = torch.randn(value.shape, generator=generator, device=value.device)
        if key.endswith("running_var"):
            state_dict[key] = 0.5 + torch.rand(value.shape, generator=generator, device=value.device)
        else:
            state_dict[key] = value + 0.1 * noise


def make_random_state_dict(kind: str = "vit", seed: int = 0, with_meta: bool = False, device="cpu",
                           **sizes) -> dict:
    """A random CLIP state dict in OpenAI layout (see ``tiny_config`` for the ``sizes`` keywords).

    ``with_meta`` adds the integer entries a released TorchScript archive carries
    (input_resolution, context_length, vocab_size). ``device``: where the model is initialised and the
    tensors stay (a full-size model initialises much faster on a GPU; the values then differ from the
    CPU ones of the same seed).
    """
    config = tiny_config(kind, **sizes)
    torch.manual_seed(seed)
    with torch.device(device):
        model = CLIP(**config)
    generator = torch.Generator(device=device).manual_seed(seed)
    state_dict = {k: v.detach().clone() for k, v in model.state_dict().items()}
    _perturb_constants(state_dict, generator)
    state_dict = {k: v.half().float() if v.is_floating_point() else v for k, v in state_dict.items()}
    if with_meta:
        state_dict["input_resolution"] = torch.tensor(config["image_resolution"])
        state_dict["context_length"] = torch.tensor(config["context_length"])
        state_dict["vocab_size"] = torch.tensor(config["vocab_size"])
    return state_dict


class _Holder(nn.Module):
    """A module tree whose state dict is a given flat dict (TorchScript keeps the names)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _holder_for(state_dict: dict) -> nn.Module:
    root = _Holder()
    for key, value in state_dict.items():
        *path, name = key.split(".")
        node = root
        for part in path:
            if not hasattr(node, part):
                node.add_module(part, _Holder())
            node = getattr(node, part)
        if value.is_floating_point():
            node.register_parameter(name, nn.Parameter(value.clone(), requires_grad=False))
        else:
            node.register_buffer(name, value.clone())
    return root


def save_torchscript_archive(state_dict: dict, path: str) -> None:
    """Write a TorchScript archive whose ``state_dict()`` equals ``state_dict`` (same shape of file as
    OpenAI's released ``.pt`` weights). Written atomically."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # TorchScript is deprecated but is the released format
        scripted = torch.jit.script(_holder_for(state_dict))
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(scripted, tmp)


def save_state_dict(state_dict: dict, path: str) -> None:
    """Write a plain state dict file (``torch.save``), atomically."""
    with atomic_path(path) as tmp:
        torch.save(state_dict, tmp)
