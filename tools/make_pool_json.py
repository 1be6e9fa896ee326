"""Write the DPC-family image pool ``SPLE_<Name>.json`` of a dataset from its canonical split.

Examples::

    python -m tools.make_pool_json --root DATA --dataset-config-file configs/datasets/caltech101.yaml
    python -m tools.make_pool_json --root DATA --dataset StanfordCars --output DATA/SPLE_database/

The default output is ``DATA/SPLE_database/SPLE_<Name>.json``, the path the published DPC / CAPT command
lines pass as ``SPLE.PIC_LIB``. An ``--output`` ending in a path separator (or naming an existing folder)
receives ``SPLE_<Name>.json``.
"""

from __future__ import annotations

import argparse
import os
import sys

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import datasets  # noqa: E402,F401  (registers the datasets)
from dassl.config import extend_cfg, get_cfg_default  # noqa: E402
from datasets.pool import pool_from_cfg, write_pool  # noqa: E402

DEFAULT_DIR = os.path.join("DATA", "SPLE_database")


def pool_filename(dataset_name: str) -> str:
    return f"SPLE_{dataset_name}.json"


def resolve_output(output: str | None, dataset_name: str) -> str:
    if not output:
        return os.path.join(DEFAULT_DIR, pool_filename(dataset_name))
    if output.endswith(("/", os.sep)) or os.path.isdir(output):
        return os.path.join(output, pool_filename(dataset_name))
    return output


def build_cfg(root: str, dataset_config_file: str | None, dataset_name: str | None, cache_dir: str = ""):
    cfg = get_cfg_default()
    extend_cfg(cfg)
    if dataset_config_file:
        if not os.path.isfile(dataset_config_file):
            raise FileNotFoundError(f"Dataset config file not found: {dataset_config_file}")
        cfg.merge_from_file(dataset_config_file)
    if dataset_name:
        cfg.DATASET.NAME = dataset_name
    cfg.DATASET.ROOT = root
    cfg.DATASET.CACHE_DIR = cache_dir
    return cfg


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", required=True, help="data root (DATASET.ROOT), e.g. DATA")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--dataset-config-file", help="a configs/datasets/*.yaml file")
    which.add_argument("--dataset", help="a registered DATASET.NAME, e.g. Caltech101")
    parser.add_argument("--output", help=f"output file or folder (default {DEFAULT_DIR}/SPLE_<Name>.json)")
    parser.add_argument("--cache-dir", default="",
                        help="DATASET.CACHE_DIR of the runs, where a generated split is found (or written)")
    return parser.parse_args(argv)


def main(argv=None) -> str:
    args = parse_args(argv)
    cfg = build_cfg(args.root, args.dataset_config_file, args.dataset, args.cache_dir)
    pool = pool_from_cfg(cfg)
    path = resolve_output(args.output, cfg.DATASET.NAME)
    write_pool(pool, path)
    n_train = sum(len(paths) for _, paths in pool["train"][0].values())
    n_val = sum(len(paths) for _, paths in pool["val"][0].values())
    print(f"Wrote {path}: {len(pool['train_obj_list'])} classes, {n_train:,} train and {n_val:,} val images")
    return path


if __name__ == "__main__":
    main()
