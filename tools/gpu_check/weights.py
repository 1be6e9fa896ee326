"""Random CLIP weights in OpenAI's file layout, under the names the published configs ask for.

``full`` builds the real ViT-B/16 (student) and ViT-L/14 (teacher) architectures; ``toy`` keeps 9 layers per
tower (the deepest published prompt depth) at width 64, 32 px input and 8 px patches, for a fast CPU check.
Values are random: the check is about code paths, devices and precisions, never accuracy.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from clip.loader import weights_filename
from clip.testing import make_random_state_dict, save_state_dict

# Keyword sizes of ``clip.testing.tiny_config`` per model name and check size.
SIZES = {
    "full": {
        "ViT-B/16": dict(embed_dim=512, image_resolution=224, vision_layers=12, vision_width=768,
                         patch_size=16, text_width=512, text_layers=12),
        "ViT-L/14": dict(embed_dim=768, image_resolution=224, vision_layers=24, vision_width=1024,
                         patch_size=14, text_width=768, text_layers=12),
    },
    "toy": {
        "ViT-B/16": dict(embed_dim=64, image_resolution=32, vision_layers=9, vision_width=64,
                         patch_size=8, text_width=64, text_layers=9),
        # A wider embedding than the student's, as ViT-L/14 (768) vs ViT-B/16 (512).
        "ViT-L/14": dict(embed_dim=96, image_resolution=32, vision_layers=9, vision_width=64,
                         patch_size=8, text_width=64, text_layers=9),
    },
}
SEEDS = {"ViT-B/16": 0, "ViT-L/14": 1}
# The released models end training at the clamp of the logit scale (exp = 100); random init gives 1/0.07.
RELEASED_LOGIT_SCALE = math.log(100.0)


def input_size(size: str) -> int:
    """Image side length of the ``size`` models (student and teacher share it)."""
    return SIZES[size]["ViT-B/16"]["image_resolution"]


def random_clip_weights(name: str, size: str, device) -> dict:
    """A random fp16 state dict (on the CPU, ready to save) of model ``name`` at check size ``size``.

    Initialised on ``device`` (seconds for ViT-L/14 on a GPU), with the released logit scale."""
    state = make_random_state_dict("vit", seed=SEEDS[name], device=device, **SIZES[size][name])
    state["logit_scale"] = torch.tensor(RELEASED_LOGIT_SCALE)
    return {k: v.half().cpu() if v.is_floating_point() else v.cpu() for k, v in state.items()}


def write_clip_weights(directory: Path, size: str, device) -> dict[str, Path]:
    """Write ``ViT-B-16.pt`` and ``ViT-L-14.pt`` (fp16 state dicts, like OpenAI's files) into ``directory``;
    returns name -> path."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in SIZES[size]:
        path = directory / weights_filename(name)
        state = random_clip_weights(name, size, device)
        save_state_dict(state, str(path))
        del state
        paths[name] = path
    return paths
