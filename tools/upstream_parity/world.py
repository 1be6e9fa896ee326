"""Build the parity world: two random CLIP weight files in OpenAI's layout and a miniature Caltech101.

Everything is drawn from local generators seeded by ``seed`` (the global torch, numpy and python RNGs are
never touched), so two builds give byte-identical files and any code that reads them sees the same inputs.

    python -m tools.upstream_parity.world --out DIR [--seed 0]
"""

import argparse
import io
import math
import os.path as osp

import numpy as np
import torch
from PIL import Image

from clip.model import CLIP
from dassl.atomic_io import atomic_open, write_json_atomic
from datasets.caltech101 import IGNORED, NEW_CNAMES

WORLD_SEED = 0

# Sizes of the two towers. Embedding widths follow the released models (512 and 768): PromptKD projects
# the student's image feature to the teacher's with a fixed 512 -> 768 module.
MODELS = {
    "ViT-B-16": {"embed_dim": 512, "image_resolution": 224, "vision_layers": 2, "vision_width": 64,
                 "vision_patch_size": 16, "context_length": 77, "vocab_size": 49408,
                 "transformer_width": 64, "transformer_heads": 1, "transformer_layers": 2},
    "ViT-L-14": {"embed_dim": 768, "image_resolution": 224, "vision_layers": 2, "vision_width": 128,
                 "vision_patch_size": 14, "context_length": 77, "vocab_size": 49408,
                 "transformer_width": 128, "transformer_heads": 2, "transformer_layers": 2},
}

# The first Caltech101 folders (sorted) after the ignored ones, and the images each split gets per class.
CLASS_FOLDERS = ("Faces", "Leopards", "Motorbikes", "accordion", "airplanes", "anchor")
SPLIT_SIZES = (("train", 8), ("val", 4), ("test", 6))


def _tensor_std(key: str, shape: tuple, config: dict) -> float:
    """Scale of a random tensor, after OpenAI's initialisation (so activations stay in a sane range)."""
    text_width, vision_width = config["transformer_width"], config["vision_width"]
    width = vision_width if key.startswith("visual.") else text_width
    layers = config["vision_layers"] if key.startswith("visual.") else config["transformer_layers"]
    if key == "token_embedding.weight":
        return 0.02
    if key == "positional_embedding":
        return 0.01
    if key in ("visual.positional_embedding", "visual.class_embedding", "visual.proj", "text_projection"):
        return width ** -0.5
    if key == "visual.conv1.weight":
        return (3 * config["vision_patch_size"] ** 2) ** -0.5
    if key.endswith("attn.in_proj_weight"):
        return width ** -0.5
    if key.endswith("attn.out_proj.weight") or key.endswith("mlp.c_proj.weight"):
        return width ** -0.5 * (2 * layers) ** -0.5
    if key.endswith("mlp.c_fc.weight"):
        return (2 * width) ** -0.5
    raise KeyError(f"no initialisation rule for CLIP tensor {key!r} of shape {shape}")


def random_clip_state_dict(config: dict, seed: int) -> dict:
    """An OpenAI-layout CLIP state dict with fp16 values drawn from a local generator.

    Norm weights are 1 + noise and biases small noise (not constants), so a comparison also checks that
    each is used.
    """
    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in CLIP(**config).state_dict().items()}
    generator = torch.Generator().manual_seed(seed)
    state_dict = {}
    for key, shape in shapes.items():
        noise = torch.randn(shape, generator=generator)
        if key == "logit_scale":
            value = torch.tensor(math.log(100.0))  # the released models' learned value
        elif key.endswith(".bias") or key.endswith("_bias"):
            value = 0.02 * noise
        elif ".ln_" in key or key.startswith("ln_") or key.startswith("visual.ln_"):
            value = 1.0 + 0.1 * noise
        else:
            value = _tensor_std(key, shape, config) * noise
        state_dict[key] = value.half()
    return state_dict


def _save_torch(obj, path: str) -> None:
    """``torch.save`` through a buffer: the archive's inner name then does not depend on a temp file."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_open(path, "wb") as f:
        f.write(buffer.getvalue())


def class_image(label: int, rng: np.random.Generator) -> Image.Image:
    """A small RGB image of one class: a class colour, stripes of a class angle and frequency, noise."""
    height, width = int(rng.integers(40, 57)), int(rng.integers(40, 57))
    hue = np.array([(label * 0.37) % 1.0, (label * 0.61 + 0.2) % 1.0, (label * 0.83 + 0.5) % 1.0])
    angle = math.pi * label / len(CLASS_FOLDERS)
    freq = 0.15 + 0.08 * label
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    phase = float(rng.uniform(0, 2 * math.pi))
    stripes = 0.5 + 0.5 * np.sin(freq * (xs * math.cos(angle) + ys * math.sin(angle)) + phase)
    noise = rng.standard_normal((height, width, 3))
    image = 0.6 * hue[None, None, :] + 0.3 * stripes[:, :, None] + 0.15 * noise
    return Image.fromarray((np.clip(image, 0.0, 1.0) * 255).round().astype(np.uint8), mode="RGB")


def _save_png(image: Image.Image, path: str) -> None:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    with atomic_open(path, "wb") as f:
        f.write(buffer.getvalue())


def build_caltech101(root: str, seed: int) -> dict:
    """Write ``root/caltech-101`` (image folders and ``split_zhou_Caltech101.json``); return the split."""
    rng = np.random.default_rng(seed)
    image_dir = osp.join(root, "caltech-101", "101_ObjectCategories")
    names = sorted(CLASS_FOLDERS)
    if any(name in IGNORED for name in names):
        raise ValueError(f"class folders {names} include an ignored Caltech101 folder {IGNORED}")
    split = {name: [] for name, _ in SPLIT_SIZES}
    for label, folder in enumerate(names):
        index = 0
        for split_name, count in SPLIT_SIZES:
            for _ in range(count):
                index += 1
                relpath = f"{folder}/image_{index:04d}.png"
                _save_png(class_image(label, rng), osp.join(image_dir, relpath))
                split[split_name].append([relpath, label, NEW_CNAMES.get(folder, folder)])
    write_json_atomic(split, osp.join(root, "caltech-101", "split_zhou_Caltech101.json"))
    return split


def build_world(out: str, seed: int = WORLD_SEED) -> None:
    """Write the weights (``out/weights/<name>.pt``) and the Caltech101 tree (``out/caltech-101``)."""
    for offset, (name, config) in enumerate(MODELS.items()):
        _save_torch(random_clip_state_dict(config, seed + 1000 * (offset + 1)),
                    osp.join(out, "weights", f"{name}.pt"))
    build_caltech101(out, seed)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder to build the world in")
    parser.add_argument("--seed", type=int, default=WORLD_SEED, help="seed of every random draw")
    args = parser.parse_args(argv)
    build_world(args.out, args.seed)
    print(f"parity world (seed {args.seed}) written to {args.out}")


if __name__ == "__main__":
    main()
