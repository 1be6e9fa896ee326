"""Build ``confusion_bank.pt`` for a finished PromptKD (CAPT stage-1) run directory.

The run's configuration comes from ``capt_stage1_config.yaml`` in the run directory (written at the end
of every PromptKD run) or from the same flags ``train.py`` takes; flags and KEY VALUE overrides win.

Example::

    python -m tools.confusion.build_bank --run-dir output/PromptKD/.../seed1
    python -m tools.confusion.build_bank --run-dir <dir> --root DATA \
        --dataset-config-file configs/datasets/caltech101.yaml \
        --config-file configs/trainers/PromptKD/vit_b16_c2_ep20_batch32_4+4ctx.yaml CAPT.BANK.NUM_VIEWS 8
"""

from __future__ import annotations

import argparse
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def build_cfg(args):
    import datasets  # noqa: F401  (registers datasets and their keys)
    import trainers  # noqa: F401  (registers trainers and their keys)
    from dassl.config import extend_cfg, get_cfg_default, merge_cfg_from_file, merge_cfg_from_list
    from trainers.capt.builder import CONFIG_SNAPSHOT

    cfg = get_cfg_default()
    extend_cfg(cfg)
    snapshot = os.path.join(args.run_dir, CONFIG_SNAPSHOT)
    if os.path.isfile(snapshot):
        merge_cfg_from_file(cfg, snapshot)
    elif not args.config_file:
        raise FileNotFoundError(f"{snapshot} not found; pass --root, --dataset-config-file and --config-file "
                                f"as given to train.py for this run")
    for path in (args.dataset_config_file, args.config_file):
        if path:
            merge_cfg_from_file(cfg, path)
    if args.root:
        cfg.DATASET.ROOT = args.root
    if args.seed is not None:
        cfg.SEED = args.seed
    merge_cfg_from_list(cfg, args.opts, source="command line")
    cfg.freeze()
    return cfg


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", required=True, help="PromptKD output directory (holds VLPromptLearner/)")
    parser.add_argument("--epoch", type=int, default=None,
                        help="student checkpoint: default model-best.pth.tar, N = model.pth.tar-N, -1 = last")
    parser.add_argument("--root", default="", help="DATASET.ROOT")
    parser.add_argument("--dataset-config-file", default="")
    parser.add_argument("--config-file", default="")
    parser.add_argument("--seed", type=int, default=None, help="seed of the augmented views")
    parser.add_argument("--device", default="cuda" if _cuda() else "cpu")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    args = parser.parse_args(argv)
    if not os.path.isdir(os.path.join(args.run_dir, "VLPromptLearner")):
        raise FileNotFoundError(f"{args.run_dir} is not a PromptKD run directory (no VLPromptLearner/)")
    from trainers.capt.builder import build_bank_for_run

    build_bank_for_run(build_cfg(args), args.run_dir, args.epoch, args.device)
    return 0


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


if __name__ == "__main__":
    sys.exit(main())
