"""Default tree values relied on by shipped configs and trainers."""

from dassl.config import clean_cfg, get_cfg_default


def test_defaults_match_dassl():
    cfg = get_cfg_default()
    assert cfg.INPUT.SIZE == (224, 224) and cfg.INPUT.INTERPOLATION == "bilinear"
    assert cfg.OPTIM.WEIGHT_DECAY == 5e-4 and cfg.OPTIM.LR_SCHEDULER == "single_step"
    assert cfg.OPTIM.WARMUP_CONS_LR == 1e-5 and cfg.OPTIM.WARMUP_RECOUNT is True
    assert cfg.DATALOADER.TRAIN_X.SAMPLER == "RandomSampler" and cfg.DATALOADER.NUM_WORKERS == 4
    assert cfg.TEST.FINAL_MODEL == "last_step" and cfg.TRAIN.CHECKPOINT_FREQ == 0
    assert cfg.SEED == -1 and cfg.OUTPUT_DIR == "./output"


def test_get_cfg_default_returns_independent_copies():
    a = get_cfg_default()
    a.OPTIM.LR = 1.0
    assert get_cfg_default().OPTIM.LR == 0.0003


def test_clean_cfg_keeps_name_and_the_given_trainer():
    cfg = get_cfg_default()
    cfg.TRAINER.NAME = "X"
    for node in ("COOP", "MCD"):
        cfg.TRAINER[node] = type(cfg)({"A": 1})
    clean_cfg(cfg, "coop")
    assert set(cfg.TRAINER.keys()) == {"NAME", "COOP"}
