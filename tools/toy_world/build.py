"""One command for the whole toy world: prepare Fashion-MNIST and its shifted copies (edges, inverted), then
pretrain the toy CLIPs that are missing.

    python -m tools.toy_world.build [--root DATA] [--clip-dir clip] [--force]

Each step is skipped when its output is already there and matches the current code: the datasets by their
``prepared.json`` markers, each model by its ``clip/<name>.json`` record (architecture, recipe, image
normalisation and data configuration must be the ones this code would use). ``--force`` rebuilds everything.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import clip
from clip.preprocess import RECORD_KEY, record_entry
from tools.toy_world import data as toy_data
from tools.toy_world import pretrain
from tools.toy_world.models import TOY_MODELS
from tools.toy_world.prepare import PrepareConfig, prepare
from tools.toy_world.shifted import SHIFTS, prepare_shifted

# The fields of the preparation that decide the pretraining pool (train/val/test sizes do not matter).
POOL_KEYS = ("seed", "pool_per_class")

# The folder clip.load("ToyViT-S") searches by default: the clip package's own folder.
DEFAULT_CLIP_DIR = Path(clip.__file__).resolve().parent


def model_is_current(name: str, clip_dir: Path, prepare_config: PrepareConfig) -> tuple[bool, str]:
    """Whether ``clip_dir/<name>.pt`` exists and its record matches the current recipe; and why not."""
    weights, record_path = clip_dir / f"{name}.pt", clip_dir / f"{name}.json"
    if not weights.is_file():
        return False, f"{weights} is missing"
    if not record_path.is_file():
        return False, f"{record_path} is missing"
    try:
        record = json.loads(record_path.read_text())
    except json.JSONDecodeError as e:
        return False, f"{record_path} is not valid JSON ({e})"
    expected = {
        "architecture": TOY_MODELS[name].to_dict(),
        "recipe": json.loads(json.dumps(asdict(pretrain.RECIPES[name]))),
        "caption_templates": list(pretrain.CAPTION_TEMPLATES),
        RECORD_KEY: record_entry(toy_data.PIXEL_STATS),
    }
    for key, value in expected.items():
        if record.get(key) != value:
            return False, f"{record_path}: {key} differs from the current code"
    made_from = record.get("data", {}).get("prepare_config") or {}
    if any(made_from.get(key) != getattr(prepare_config, key) for key in POOL_KEYS):
        return False, f"{record_path}: pretrained on a different pool ({made_from})"
    return True, "up to date"


def build(
    root: str = "DATA",
    clip_dir: str | None = None,
    force: bool = False,
    models: tuple[str, ...] = tuple(TOY_MODELS),
    source: str | None = None,
    workers: int = 2,
    prepare_config: PrepareConfig | None = None,
) -> dict:
    """Prepare the data and build ``models``; returns wall times and accuracies of what was done."""
    prepare_config = prepare_config or PrepareConfig()
    report: dict = {}
    print("== Toy world: Fashion-MNIST")
    start = time.time()
    directory = prepare(root, prepare_config, force=force, source=source, workers=workers)
    report["prepare_s"] = round(time.time() - start, 1)
    start = time.time()
    for name in SHIFTS:
        print(f"== Toy world: Fashion-MNIST, {name}")
        prepare_shifted(root, name, force=force, workers=workers)
    report["shifted_s"] = round(time.time() - start, 1)

    clip_path = Path(clip_dir) if clip_dir else DEFAULT_CLIP_DIR
    todo = []
    for name in models:
        current, reason = model_is_current(name, clip_path, prepare_config)
        if current and not force:
            print(f"== Toy world: {name} found in {clip_path} ({reason})")
        else:
            print(f"== Toy world: {name} will be pretrained ({'--force' if current else reason})")
            todo.append(name)
    if not todo:
        return report

    start = time.time()
    resolutions = {TOY_MODELS[name].image_resolution for name in todo}
    loaded = {}
    for resolution in resolutions:  # share the decoded images between models of one resolution
        loaded[resolution] = tuple(
            toy_data.load_images(directory, toy_data.read_entries(directory, part), resolution, workers)
            for part in ("pool", "test")
        )
    report["load_images_s"] = round(time.time() - start, 1)
    for name in todo:
        print(f"== Toy world: pretraining {name}")
        pool, test = loaded[TOY_MODELS[name].image_resolution]
        record = pretrain.build_model_files(name, root, clip_path, pool=pool, test=test, workers=workers)
        zero_shot = record["zero_shot"]
        print(
            f"{name}: zero-shot accuracy {zero_shot['accuracy']:.2f}% on {zero_shot['num_images']} test "
            f"images, {record['file_bytes'] / 1e6:.1f} MB, {record['wall_time_s']['total']:.0f}s"
        )
        report[name] = {
            "accuracy": record["zero_shot"]["accuracy"],
            "seconds": record["wall_time_s"]["total"],
        }
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="DATA", help="data root (DATASET.ROOT); default DATA")
    parser.add_argument(
        "--clip-dir", default=None, help="where ToyViT-*.pt/.json go (default: the repo's clip/)"
    )
    parser.add_argument("--force", action="store_true", help="rebuild the data and the models")
    parser.add_argument("--models", nargs="+", default=list(TOY_MODELS), choices=sorted(TOY_MODELS))
    parser.add_argument("--source", default=None, help="directory with the four Fashion-MNIST IDX files")
    parser.add_argument("--workers", type=int, default=2, help="processes for writing/reading PNGs")
    args = parser.parse_args(argv)
    start = time.time()
    report = build(args.root, args.clip_dir, args.force, tuple(args.models), args.source, args.workers)
    print(f"== Toy world ready in {time.time() - start:.0f}s: {json.dumps(report)}")


if __name__ == "__main__":
    main()
