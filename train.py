"""Train or evaluate a trainer on a dataset (Dassl-compatible command line).

Config merge order, later wins: Dassl defaults -> keys added by the hooks of
every trainer/dataset module -> ``--dataset-config-file`` ->
``--config-file`` -> command-line flags (``--root``, ``--seed``...) ->
trailing ``KEY VALUE`` pairs. Unknown keys are errors. An ``INPUT.PIXEL_MEAN`` /
``INPUT.PIXEL_STD`` left unset (``[]``) is then filled in with the statistics
stored with the backbone's weights (``dassl.config.pixel_stats``).

Behaviours kept from the Dassl/CoOp family:

- re-running a command into an existing ``--output-dir`` resumes it (and only
  re-tests when it had finished);
- ``--eval-only`` loads ``--model-dir`` (``model-best.pth.tar``, or
  ``model.pth.tar-<N>`` with ``--load-epoch N``) and tests; without
  ``--model-dir`` it tests the model as built (zero-shot);
- ``--model-dir`` without ``--eval-only`` initialises the weights before
  training (CaPT/DePT style);
- a failing run writes its traceback to ``<output-dir>/exceptions.txt``.

Added: a run holds an exclusive lock on its output folder, refuses a folder made with another config
(``--accept-config-change`` continues it anyway), and writes ``finished.json`` only when it succeeded
(see ``dassl.run_state``).

Differences: ``--seed 0`` is honoured (any explicitly given seed counts);
``--deterministic`` enables deterministic algorithms and seeded workers.

Several GPUs: ``torchrun --nproc_per_node N train.py ...`` runs one DistributedDataParallel run over N
processes (``WORLD_SIZE`` > 1 in the environment); rank 0 alone writes ``log.txt``, TensorBoard,
checkpoints and results, the other ranks print nothing. See README.md, "Several GPUs".
"""

import argparse
import os
import os.path as osp
import sys
import traceback

import torch

import datasets  # noqa: F401  (registers the datasets and their config keys)
import trainers  # noqa: F401  (registers the trainers and their config keys)
from dassl.config import (
    ConfigKeyError,
    extend_cfg,
    get_cfg_default,
    merge_cfg_from_file,
    merge_cfg_from_list,
    resolve_pixel_stats,
)
from dassl.engine import build_trainer
from dassl.run_state import (
    EXCEPTIONS_FILE,
    RunLock,
    check_run_config,
    flatten_cfg,
    loaded_weights,
    mark_finished,
    mark_started,
    remove_stale_temp_files,
)
from dassl.utils import (
    collect_env_info,
    set_random_seed,
    setup_logger,
    unsafe_pickle_allowed,
    write_text_atomic,
)
from dassl.utils.distributed import (
    barrier,
    cleanup_distributed,
    get_rank,
    get_world_size,
    init_distributed,
    is_main_process,
    shared_seed,
)


class _StoreSeed(argparse.Action):
    """Store ``--seed`` and remember that it was given explicitly."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        namespace._seed_given = True


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=str, default="", help="path to the dataset root")
    parser.add_argument("--output-dir", type=str, default="", help="output directory")
    parser.add_argument("--resume", type=str, default="", help="checkpoint directory to resume from")
    parser.add_argument(
        "--seed", type=int, default=-1, action=_StoreSeed, help="random seed (any given value, 0 included)"
    )
    parser.add_argument("--source-domains", type=str, nargs="+", help="source domains for DA/DG")
    parser.add_argument("--target-domains", type=str, nargs="+", help="target domains for DA/DG")
    parser.add_argument("--transforms", type=str, nargs="+", help="data augmentation methods")
    parser.add_argument("--config-file", type=str, default="", help="path to the trainer config file")
    parser.add_argument("--dataset-config-file", type=str, default="", help="path to the dataset config file")
    parser.add_argument("--trainer", type=str, default="", help="name of the trainer")
    parser.add_argument("--backbone", type=str, default="", help="name of the CNN/CLIP backbone")
    parser.add_argument("--head", type=str, default="", help="name of the head")
    parser.add_argument("--eval-only", action="store_true", help="evaluation only")
    parser.add_argument("--model-dir", type=str, default="", help="load the model from this directory")
    parser.add_argument("--load-epoch", type=int, default=None, help="load the weights saved at this epoch")
    parser.add_argument("--no-train", action="store_true", help="do not call trainer.train()")
    parser.add_argument(
        "--deterministic",
        action="store_true",
        help="deterministic algorithms, seeded loader workers, no cudnn.benchmark",
    )
    parser.add_argument(
        "--accept-config-change",
        action="store_true",
        help="continue a run in --output-dir although its config differs from the one stored there",
    )
    parser.add_argument(
        "opts", default=None, nargs=argparse.REMAINDER, help="modify config options using the command line"
    )
    return parser


def parse_args(argv=None):
    return build_parser().parse_args(argv)


def reset_cfg(cfg, args):
    """Copy the command-line flags that were set into ``cfg``."""
    if args.root:
        cfg.DATASET.ROOT = args.root
    if args.output_dir:
        cfg.OUTPUT_DIR = args.output_dir
    if args.resume:
        cfg.RESUME = args.resume
    if getattr(args, "_seed_given", args.seed is not None and args.seed >= 0):
        cfg.SEED = args.seed
    if args.source_domains:
        cfg.DATASET.SOURCE_DOMAINS = args.source_domains
    if args.target_domains:
        cfg.DATASET.TARGET_DOMAINS = args.target_domains
    if args.transforms:
        cfg.INPUT.TRANSFORMS = args.transforms
    if args.trainer:
        cfg.TRAINER.NAME = args.trainer
    if args.backbone:
        cfg.MODEL.BACKBONE.NAME = args.backbone
    if args.head:
        cfg.MODEL.HEAD.NAME = args.head
    if getattr(args, "deterministic", False):
        cfg.TRAIN.DETERMINISTIC = True


def setup_cfg(args):
    """Build the frozen config for ``args`` (see the module docstring for the order)."""
    cfg = get_cfg_default()
    extend_cfg(cfg)
    if args.dataset_config_file:
        merge_cfg_from_file(cfg, args.dataset_config_file)
    if args.config_file:
        merge_cfg_from_file(cfg, args.config_file)
    reset_cfg(cfg, args)
    merge_cfg_from_list(cfg, args.opts, source="command line")
    resolve_pixel_stats(cfg)  # an unset INPUT.PIXEL_MEAN/STD: the backbone weights' statistics, recorded
    cfg.freeze()
    return cfg


def print_args(args, cfg):
    print("***************")
    print("** Arguments **")
    print("***************")
    for key in sorted(k for k in vars(args) if not k.startswith("_")):
        print(f"{key}: {getattr(args, key)}")
    print("************")
    print("** Config **")
    print("************")
    print(cfg)


def configure_torch(cfg):
    """Apply determinism / cudnn settings; return what is needed to undo them."""
    previous = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.deterministic,
    )
    if cfg.TRAIN.DETERMINISTIC:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    elif torch.cuda.is_available() and cfg.USE_CUDA and cfg.TRAIN.CUDNN_BENCHMARK:
        torch.backends.cudnn.benchmark = True
    return previous


def restore_torch(previous):
    enabled, warn_only, benchmark, deterministic = previous
    torch.use_deterministic_algorithms(enabled, warn_only=warn_only)
    torch.backends.cudnn.benchmark = benchmark
    torch.backends.cudnn.deterministic = deterministic


def run_record(cfg, args):
    """What decides a run's results: the config (minus location keys) and the loading flags."""
    record = flatten_cfg(cfg)
    for flag in ("eval_only", "model_dir", "load_epoch", "no_train"):
        record[f"--{flag.replace('_', '-')}"] = getattr(args, flag, None)
    return record


def train_or_test(cfg, args):
    """Build the trainer and train and/or test it as the flags say; return the trainer."""
    trainer = build_trainer(cfg)
    if args.eval_only:
        trainer.load_model(args.model_dir, epoch=args.load_epoch)
        trainer.test()
        return trainer
    if args.model_dir:
        trainer.load_model(args.model_dir, epoch=args.load_epoch)
    if not args.no_train:
        trainer.train()
    return trainer


def run(cfg, args):
    """Train and/or test in ``cfg.OUTPUT_DIR`` while holding its lock; return the trainer.

    The folder must not be in use by another run, nor hold a run made with another config (unless
    ``--accept-config-change``). ``finished.json`` is written only when everything succeeded. Under
    ``torchrun`` the process group is started here, and rank 0 alone owns the folder and its records.
    """
    init_distributed(cfg.USE_CUDA)
    try:
        if not is_main_process():
            trainer = run_logged(cfg, args)
        else:
            output_dir = cfg.OUTPUT_DIR
            record = run_record(cfg, args)
            with RunLock(output_dir):
                check_run_config(output_dir, record, getattr(args, "accept_config_change", False))
                mark_started(output_dir)
                trainer = run_logged(cfg, args)
                if args.eval_only or not args.no_train:
                    kind = "eval" if args.eval_only else "train"
                    mark_finished(output_dir, kind, record, loaded_weights(outside=output_dir, forget=True))
        # every rank leaves a finished run together: a rank that tore its process group down while rank 0
        # still wrote the records could abort at exit
        barrier()
        release = getattr(trainer, "release_distributed", None)
        if release is not None:
            release()
        return trainer
    finally:
        cleanup_distributed()


def silence_stdout():
    """Send this process's prints nowhere (non-zero ranks); returns the stream to close."""
    devnull = open(os.devnull, "w")
    sys.stdout = devnull
    return devnull


def run_logged(cfg, args):
    """Run with log.txt and, on failure, the traceback in exceptions.txt (both rank 0's only)."""
    rank0 = is_main_process()
    exceptions_path = osp.join(cfg.OUTPUT_DIR, EXCEPTIONS_FILE)
    if rank0 and osp.exists(exceptions_path):
        os.remove(exceptions_path)
    console = sys.stdout
    logger = setup_logger(cfg.OUTPUT_DIR) if rank0 else silence_stdout()
    previous = configure_torch(cfg)
    try:
        if get_world_size() > 1:
            print(f"Distributed run: {get_world_size()} processes, this log is rank {get_rank()}'s")
        if cfg.SEED >= 0:
            print(f"Setting fixed seed: {cfg.SEED}")
            set_random_seed(cfg.SEED)
        elif get_world_size() > 1:
            # the ranks must build the same model (random buffers included): one seed for all
            seed = shared_seed(cfg.SEED)
            print(f"No --seed: every process uses seed {seed}, drawn by rank 0")
            set_random_seed(seed)
        print_args(args, cfg)
        if rank0:
            remove_stale_temp_files(cfg.OUTPUT_DIR)
        if cfg.TRAIN.COLLECT_ENV_INFO:
            print("Collecting env info ...")
            print(f"** System info **\n{collect_env_info()}\n")
        loaded_weights(forget=True)
        with unsafe_pickle_allowed(cfg.ALLOW_UNSAFE_PICKLE):
            return train_or_test(cfg, args)
    except BaseException:
        if rank0:
            write_text_atomic(traceback.format_exc(), exceptions_path)
        raise
    finally:
        sys.stdout.flush()
        restore_torch(previous)
        if logger is not None:
            if sys.stdout is logger:
                sys.stdout = console
            logger.close()


def main(argv=None):
    """Entry point; ``argv`` defaults to ``sys.argv[1:]``. Returns the trainer."""
    args = parse_args(argv)
    cfg = setup_cfg(args)
    return run(cfg, args)


if __name__ == "__main__":
    try:
        main()
    except ConfigKeyError as e:
        sys.exit(f"Config error: {e}")
