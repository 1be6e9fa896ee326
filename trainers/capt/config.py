"""Config keys of CAPT (``CAPT.*``) and of the DPC-family stage-2 command line (``SPLE.*``).

Every choice the paper leaves open is a key here, so it can be changed from the command line. ``SPLE.*``
accepts every key of the published ``StackSPLE_PromptKD`` command and YAML; in the default ``paper`` mode only
``BACK_CKPT_PATH``, ``BACK_CKPT_EPOCH``, ``INFER_TOPK``, ``LOSS_KD_WEIGHT`` and ``STACK.WEIGHT_FOR_NEW`` are
read (its sample retrieval uses the Confusion Bank, never the image pool). ``PIC_LIB``, ``STACK.MODE`` and
``STACK.WEIGHT`` matter only to ``CAPT.MODE released``.
"""

from dassl.config import add_cfg_node, cfg_hook

MODES = ("paper", "released")
COUNT_MODES = ("sym", "row", "col")
STAGE1_POLICIES = ("released", "epoch")  # CAPT.STAGE1_CHECKPOINT (see resources.stage1_epoch)
STACK_MODES = ("converse", "loop+converse", "void")

SPLE_DEFAULTS = {
    # Stage-1 (PromptKD) run directory and its epoch N (model.pth.tar-N, -1 = the last epoch file): used
    # when the run has no model-best.pth.tar, or always with CAPT.STAGE1_CHECKPOINT epoch (0 = the best file).
    "BACK_CKPT_PATH": "",
    "BACK_CKPT_EPOCH": 20,
    # paper mode: cap on representatives per anchor in L_confuse; released: the teacher's top-K window
    # the hard-negative classes are drawn from (see trainers/capt/released.py)
    "INFER_TOPK": 8,
    "INFER_NONREPEAT": True,
    # Image-pool JSON of CAPT.MODE released (one random train image per hard-negative class), derived
    # from the dataset split when the file is missing; the paper mode does not read it.
    "PIC_LIB": "",
    # Optional KD to the teacher's base logits (off by default): PromptKD's term and normalisation, so the
    # weight is on the scale of TRAINER.PROMPTKD.KD_WEIGHT; temperature TRAINER.PROMPTKD.TEMPERATURE.
    "LOSS_KD_WEIGHT": 0.0,
    "KD_INFER": "",
    "SPLE_TRAINER": {"SPLE_INIT": True, "SPLE_BASE_TRAIN": True},
    "STACK": {"MODE": "converse", "WEIGHT": 0.2, "WEIGHT_FOR_NEW": 0.0, "LOOP_DEPTH": 0},
}

CAPT_DEFAULTS = {
    "MODE": "paper",
    # Which stage-1 student file stage 2 freezes: "released" = model-best.pth.tar when present, else
    # model.pth.tar-<SPLE.BACK_CKPT_EPOCH> (the authors' code); "epoch" = exactly SPLE.BACK_CKPT_EPOCH.
    "STAGE1_CHECKPOINT": "released",
    "BANK": {
        "FILE": "confusion_bank.pt",
        "NUM_VIEWS": 4,  # 1 test view + NUM_VIEWS - 1 augmented views
        "NEAR_MISS_TOPR": 3,
        "NEAR_MISS_TAU": 0.05,
        "MAX_PER_CELL": 32,
        "MIN_STABILITY": 0.0,
        "SOFT_WEIGHT": 1.0,
        "MAX_PER_CLASS": 0,  # 0 = every base-class training image
        "BATCH_SIZE": 64,
        "BUILD_AFTER_STAGE1": True,
    },
    "SEM": {
        "TOPK": 3,
        "COUNT_MODE": "sym",
        "PAIR_FILE": "",
        "DESC_FILE": "",
        "COMMON_TEMPLATE": "a photo of a {a} or a {b}.",
        "DIFF_TEMPLATE": "a photo of a {a}, not a {b}.",
        "KMEANS_K": 5,
        "KEEP": 3,
        "KMEANS_ITERS": 20,
        "CACHE_DIR": "",  # "" -> <stage-1 dir>/sem_cache
    },
    "SAM": {"N_REP": 1, "IMAGE_CACHE": 512},
    "ADAPTER": {
        "LAYERS": "all",  # "all" or comma-separated block indices (negative counts from the end)
        "KERNEL_SIZE": 3,
        "SCALE": 0.1,
        "MLP_BRANCH": True,
        "DYNAMIC_ALPHA": False,
        "ALPHA_S": 5.0,
        "ALPHA_GAMMA": 0.5,
    },
    "MGDE": {
        "N_SAMPLE_EXPERTS": 1,
        "TOPK": 2,
        "BETA": 1.0,
        "LB_WEIGHT": 0.1,
        "FFN_INIT": "last_block",  # or "random"
    },
    "LOSS": {"ORI_WEIGHT": 1.0, "CONF_WEIGHT": 1.0},
    "INFER": {"USE_BANK": True},
}


@cfg_hook
def add_capt_cfg(cfg) -> None:
    add_cfg_node(cfg, "SPLE", SPLE_DEFAULTS)
    add_cfg_node(cfg, "CAPT", CAPT_DEFAULTS)


def parse_layers(spec: str, num_layers: int) -> list[int]:
    """``"all"`` or ``"0,5,-1"`` -> sorted block indices; bad entries name the key."""
    if str(spec).strip().lower() == "all":
        return list(range(num_layers))
    out = set()
    for part in str(spec).split(","):
        part = part.strip()
        if not part:
            continue
        try:
            index = int(part)
        except ValueError:
            raise ValueError(f"CAPT.ADAPTER.LAYERS: {part!r} is not an integer (expected 'all' or "
                             f"comma-separated block indices)") from None
        if not -num_layers <= index < num_layers:
            raise ValueError(f"CAPT.ADAPTER.LAYERS: block {index} does not exist ({num_layers} blocks)")
        out.add(index % num_layers)
    if not out:
        raise ValueError(f"CAPT.ADAPTER.LAYERS: {spec!r} selects no block")
    return sorted(out)


def check_capt_cfg(cfg) -> None:
    """Reject values outside their allowed sets, naming the key."""
    checks = [
        ("CAPT.MODE", cfg.CAPT.MODE, MODES),
        ("CAPT.STAGE1_CHECKPOINT", cfg.CAPT.STAGE1_CHECKPOINT, STAGE1_POLICIES),
        ("CAPT.SEM.COUNT_MODE", cfg.CAPT.SEM.COUNT_MODE, COUNT_MODES),
        ("SPLE.STACK.MODE", cfg.SPLE.STACK.MODE, STACK_MODES),
        ("CAPT.MGDE.FFN_INIT", cfg.CAPT.MGDE.FFN_INIT, ("last_block", "random")),
    ]
    for key, value, allowed in checks:
        if value not in allowed:
            raise ValueError(f"{key} must be one of {list(allowed)}, got {value!r}")
    positive = [("CAPT.SEM.TOPK", cfg.CAPT.SEM.TOPK), ("CAPT.SAM.N_REP", cfg.CAPT.SAM.N_REP),
                ("CAPT.BANK.NUM_VIEWS", cfg.CAPT.BANK.NUM_VIEWS), ("CAPT.MGDE.TOPK", cfg.CAPT.MGDE.TOPK),
                ("CAPT.ADAPTER.KERNEL_SIZE", cfg.CAPT.ADAPTER.KERNEL_SIZE)]
    for key, value in positive:
        if int(value) < 1:
            raise ValueError(f"{key} must be >= 1, got {value}")
    if cfg.CAPT.ADAPTER.KERNEL_SIZE % 2 == 0:
        raise ValueError(f"CAPT.ADAPTER.KERNEL_SIZE must be odd, got {cfg.CAPT.ADAPTER.KERNEL_SIZE}")
    if not 0.0 <= cfg.SPLE.STACK.WEIGHT_FOR_NEW <= 1.0:
        raise ValueError(f"SPLE.STACK.WEIGHT_FOR_NEW must be in [0, 1], got {cfg.SPLE.STACK.WEIGHT_FOR_NEW}")
