"""Default configuration tree (the Dassl schema used by the CLIP stack).

Method-specific keys are not declared here: each trainer or dataset module
adds its own node through a :func:`dassl.config.cfg_hook`.
"""

from yacs.config import CfgNode as CN

_DEFAULTS = {
    "VERSION": 1,
    # Directory for log.txt, checkpoints, tensorboard files and results.json.
    "OUTPUT_DIR": "./output",
    # Directory to resume from (empty: resume from OUTPUT_DIR if it has checkpoints).
    "RESUME": "",
    # Negative: no fixed seed.
    "SEED": -1,
    "USE_CUDA": True,
    # Load checkpoints that need full pickle (e.g. files of the original Dassl holding objects other
    # than tensors). Such a file can run any code while it loads: only for files you trust.
    "ALLOW_UNSAFE_PICKLE": False,
    "VERBOSE": True,
    "INPUT": {
        "SIZE": (224, 224),
        # bilinear | bicubic | nearest
        "INTERPOLATION": "bilinear",
        # Names understood by dassl.data.transforms.build_transform.
        "TRANSFORMS": (),
        "NO_TRANSFORM": False,
        # Per-channel normalisation; [] = unset: the statistics stored with the backbone's weights
        # (OpenAI's for OpenAI CLIP), else ImageNet's (see dassl/config/pixel_stats.py).
        "PIXEL_MEAN": [],
        "PIXEL_STD": [],
        "CROP_PADDING": 4,
        "RRCROP_SCALE": (0.08, 1.0),
        "CUTOUT_N": 1,
        "CUTOUT_LEN": 16,
        "GN_MEAN": 0.0,
        "GN_STD": 0.15,
        "RANDAUGMENT_N": 2,
        "RANDAUGMENT_M": 10,
        "COLORJITTER_B": 0.4,
        "COLORJITTER_C": 0.4,
        "COLORJITTER_S": 0.4,
        "COLORJITTER_H": 0.1,
        "RGS_P": 0.2,
        "GB_P": 0.5,
        "GB_K": 21,
    },
    "DATASET": {
        "ROOT": "",
        "NAME": "",
        "SOURCE_DOMAINS": (),
        "TARGET_DOMAINS": (),
        "NUM_LABELED": -1,
        # Images per class for few-shot training (< 1: use all).
        "NUM_SHOTS": -1,
        "VAL_PERCENT": 0.1,
        "STL10_FOLD": -1,
        "CIFAR_C_TYPE": "",
        "CIFAR_C_LEVEL": 1,
        "ALL_AS_UNLABELED": False,
    },
    "DATALOADER": {
        "NUM_WORKERS": 4,
        "K_TRANSFORMS": 1,
        "RETURN_IMG0": False,
        "TRAIN_X": {"SAMPLER": "RandomSampler", "BATCH_SIZE": 32, "N_DOMAIN": 0, "N_INS": 16},
        "TRAIN_U": {
            "SAME_AS_X": True,
            "SAMPLER": "RandomSampler",
            "BATCH_SIZE": 32,
            "N_DOMAIN": 0,
            "N_INS": 16,
        },
        "TEST": {"SAMPLER": "SequentialSampler", "BATCH_SIZE": 32},
    },
    "MODEL": {
        "INIT_WEIGHTS": "",
        "BACKBONE": {"NAME": "", "PRETRAINED": True},
        "HEAD": {"NAME": "", "HIDDEN_LAYERS": (), "ACTIVATION": "relu", "BN": True, "DROPOUT": 0.0},
    },
    "OPTIM": {
        # adam | amsgrad | sgd | rmsprop | radam | adamw
        "NAME": "adam",
        "LR": 0.0003,
        "WEIGHT_DECAY": 5e-4,
        "MOMENTUM": 0.9,
        "SGD_DAMPNING": 0,
        "SGD_NESTEROV": False,
        "RMSPROP_ALPHA": 0.99,
        "ADAM_BETA1": 0.9,
        "ADAM_BETA2": 0.999,
        # Children named in NEW_LAYERS train at LR, the others at LR * BASE_LR_MULT.
        "STAGED_LR": False,
        "NEW_LAYERS": (),
        "BASE_LR_MULT": 0.1,
        # single_step | multi_step | cosine (stepped once per epoch)
        "LR_SCHEDULER": "single_step",
        "STEPSIZE": (-1,),
        "GAMMA": 0.1,
        "MAX_EPOCH": 10,
        # Warm-up (disabled when WARMUP_EPOCH <= 0): constant | linear
        "WARMUP_EPOCH": -1,
        "WARMUP_TYPE": "linear",
        "WARMUP_CONS_LR": 1e-5,
        "WARMUP_MIN_LR": 1e-5,
        # False: the main schedule starts counting at WARMUP_EPOCH instead of 0.
        "WARMUP_RECOUNT": True,
    },
    "TRAIN": {
        # Save every N epochs (0: only the last epoch).
        "CHECKPOINT_FREQ": 0,
        "PRINT_FREQ": 10,
        # train_x | train_u | smaller_one (TrainerXU only)
        "COUNT_ITER": "train_x",
    },
    "TEST": {
        "EVALUATOR": "Classification",
        "PER_CLASS_RESULT": False,
        "COMPUTE_CMAT": False,
        "NO_TEST": False,
        # test | val
        "SPLIT": "test",
        # last_step | best_val
        "FINAL_MODEL": "last_step",
    },
    "TRAINER": {"NAME": ""},
}

_C = CN(_DEFAULTS)


def get_cfg_default():
    """Return a fresh copy of the default tree (without hook-added keys)."""
    return _C.clone()


def clean_cfg(cfg, trainer):
    """Keep only ``TRAINER.NAME`` and ``TRAINER.<trainer.upper()>`` under ``cfg.TRAINER``."""
    keep = {"NAME", trainer.upper()}
    for key in [k for k in cfg.TRAINER.keys() if k not in keep]:
        del cfg.TRAINER[key]
