"""Every shipped CaPT-repository config merges into the full config tree with the published values."""

from pathlib import Path

import pytest

from dassl.config import extend_cfg, get_cfg_default, merge_cfg_from_file

REPO = Path(__file__).resolve().parents[3]
TRAINERS = ["KgCoOp", "ProGrad", "DAPT", "KgCoOpDePT", "UCPCoOp", "UCPKgCoOp", "UCPProGrad", "UCPDAPT",
            "UCPKgCoOpDePT"]


def _load(trainer, stem):
    import trainers  # noqa: F401  (registers every hook)

    cfg = extend_cfg(get_cfg_default())
    merge_cfg_from_file(cfg, str(REPO / "configs" / "trainers" / trainer / f"{stem}.yaml"))
    return cfg


def _main_stem(trainer):
    return "vit_b16_ep10_batch4" if trainer.endswith("DAPT") else "vit_b16_ep10_ctx_batch4"


@pytest.mark.parametrize("trainer", TRAINERS)
def test_main_config_has_the_capt_protocol(trainer):
    cfg = _load(trainer, _main_stem(trainer))
    assert cfg.MODEL.BACKBONE.NAME == "ViT-B/16" and cfg.TRAINER.PREC == "fp16"
    assert (cfg.OPTIM.NAME, cfg.OPTIM.LR, cfg.OPTIM.MAX_EPOCH) == ("sgd", 0.0035, 10)
    assert (cfg.OPTIM.WARMUP_EPOCH, cfg.OPTIM.WARMUP_TYPE, cfg.OPTIM.WARMUP_CONS_LR) == (1, "constant", 1e-5)
    assert cfg.DATALOADER.TRAIN_X.BATCH_SIZE == 4 and cfg.DATALOADER.TEST.BATCH_SIZE == 100
    assert cfg.TEST.FINAL_MODEL == "last_step"
    text = (REPO / "configs" / "trainers" / trainer / f"{_main_stem(trainer)}.yaml").read_text()
    assert text.startswith(f"# Trainer: {trainer}") and f"--trainer {trainer}" in text


EXPECTED_UCP = {  # SCALE, HIDDEN_DIM, DROPOUT, SMOOTH
    "UCPCoOp": (0.5, 32, 0.1, 0.0031),
    "UCPKgCoOp": (1.0, 32, 0.0, 0.001),
    "UCPProGrad": (1.0, 32, 0.1, 0.0031),
    "UCPDAPT": (1.0, 32, 0.1, 0.0),
    "UCPKgCoOpDePT": (0.9, 64, 0.1, 0.0008),
}


@pytest.mark.parametrize("trainer", sorted(EXPECTED_UCP))
def test_capt_hyper_parameters(trainer):
    cfg = _load(trainer, _main_stem(trainer))
    ucp = cfg.TRAINER.UCP
    assert (ucp.SCALE, ucp.HIDDEN_DIM, ucp.DROPOUT, ucp.LOSS.SMOOTH) == EXPECTED_UCP[trainer]
    assert ucp.MODULE == "mlp" and ucp.LOSS.USE_SIM and ucp.TOKENIZER_MODE == "clip"
    assert cfg.OPTIM.NEW_LR_MULT == (18.0 if trainer == "UCPKgCoOpDePT" else 6.5)


def test_baseline_specific_values():
    assert _load("ProGrad", "vit_b16_ep10_ctx_batch4").LOSS.NAME == "prograd"
    kg = _load("KgCoOp", "vit_b16_ep10_ctx_batch4")
    assert (kg.TRAINER.KGCOOP.N_CTX, kg.TRAINER.KGCOOP.W, kg.TRAIN.PRINT_FREQ) == (4, 1.5, 20)
    coop = _load("UCPCoOp", "vit_b16_ep10_ctx_batch4").TRAINER.COOP
    assert (coop.N_CTX, coop.CTX_INIT, coop.CLASS_TOKEN_POSITION) == (4, "a photo of a", "end")
    dapt = _load("DAPT", "vit_b16_ep10_batch4").TRAINER.DAPT
    assert (dapt.VIS_NUM_TOKENS, dapt.TXT_NUM_TOKENS, dapt.VIS_BETA, dapt.TXT_BETA, dapt.TXT_RBF_T) == (
        16, 16, 0.1, 0.1, 2.0)
    assert _load("KgCoOpDePT", "vit_b16_ep10_ctx_batch4").TRAINER.DEPT.CLS_WEIGHT == 0.7


@pytest.mark.parametrize("trainer", TRAINERS)
def test_toy_config_inherits_and_shrinks(trainer):
    cfg = _load(trainer, "toy_vit_s")
    assert cfg.MODEL.BACKBONE.NAME == "ToyViT-S" and tuple(cfg.INPUT.SIZE) == (32, 32)
    assert cfg.OPTIM.LR == 0.0035 and cfg.TRAINER.PREC == "fp32"
