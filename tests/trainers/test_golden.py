"""Numerical golden runs: every registered trainer, a few fixed-seed toy steps through ``train.main``.

Each case trains a random toy CLIP for a handful of steps on CPU in fp32 (one thread, no loader workers)
and compares with the numbers stored in ``golden/<case>.json``:

* ``losses``: the dict each ``forward_backward`` call returned, step by step;
* ``logits``: ``model_inference`` on the first test images after training.

A refactor or a speed-up must leave them unchanged (rtol 1e-5, atol 1e-6: tight, but not bit-exact across
BLAS builds). A change that alters the numbers on purpose (a fix, another use of the random generators)
re-records them deliberately::

    GOLDEN_UPDATE=1 python -m pytest tests/trainers/test_golden.py

and the diff of ``golden/*.json`` shows what moved.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import pytest
import torch
from vl_toy import put_random_teacher, record_steps, run, toy_argv

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("GOLDEN_UPDATE") == "1"
RTOL, ATOL = 1e-5, 1e-6
N_IMAGES = 4  # test images of the logits check

# Two epochs of a few steps (the first runs at the warm-up learning rate of most configs, the second at the
# configured one); the toy configs all train in fp32. The numbers are CPU numbers, also on a GPU machine.
# They pin the meta-device build (MODEL.CLIP_INIT_DRAWS False, which draws nothing while building CLIP);
# the default build's random streams are pinned against upstream runs in test_upstream_trajectories.py.
COMMON = ["USE_CUDA", "False", "MODEL.CLIP_INIT_DRAWS", "False",
          "DATASET.NUM_SHOTS", "2", "OPTIM.MAX_EPOCH", "2",
          "TRAIN.COLLECT_ENV_INFO", "False", "TRAIN.PRINT_FREQ", "1000", "TRAIN.PROGRESS_BAR", "False",
          "DATALOADER.TRAIN_X.BATCH_SIZE", "4"]
BASE = ["DATASET.SUBSAMPLE_CLASSES", "base"]
SMALL_DAPT = ["TRAINER.DAPT.VIS_NUM_TOKENS", "4", "TRAINER.DAPT.TXT_NUM_TOKENS", "4"]
# PromptKD distils on the whole train split (10 classes x 12 images): 3 steps of 40 per epoch.
KD = ["DATASET.NUM_SHOTS", "0", "TRAINER.MODAL", "base2novel", "TRAINER.PROMPTKD.TEMPERATURE", "1.0",
      "TRAINER.PROMPTKD.KD_WEIGHT", "1000.0", "DATALOADER.TRAIN_X.BATCH_SIZE", "40", "TEST.SPLIT", "val"]
CAPT_STAGE2 = [*BASE, "TEST.SPLIT", "val", "CAPT.BANK.NUM_VIEWS", "2"]

# case -> (trainer, config, KEY VALUE overrides after COMMON)
CASES = {
    "ZeroshotCLIP": ("ZeroshotCLIP", "ZeroShotCLIP/toy_vit_s.yaml", BASE),
    "ZeroshotCLIP2": ("ZeroshotCLIP2", "ZeroshotCLIP2/toy_vit_s.yaml", BASE),
    "CoOp": ("CoOp", "CoOp/toy_vit_s.yaml", [*BASE, "TRAINER.COOP.PREC", "fp32"]),
    "CoCoOp": ("CoCoOp", "CoCoOp/toy_vit_s.yaml", BASE),
    "IVLP": ("IVLP", "IVLP/toy_vit_s.yaml", BASE),
    "PromptSRC": ("PromptSRC", "PromptSRC/toy_vit_s.yaml", [*BASE, "TRAINER.PROMPTSRC.GPA_MEAN", "1"]),
    "KgCoOp": ("KgCoOp", "KgCoOp/toy_vit_s.yaml", BASE),
    "ProGrad": ("ProGrad", "ProGrad/toy_vit_s.yaml", BASE),
    "DAPT": ("DAPT", "DAPT/toy_vit_s.yaml", [*BASE, *SMALL_DAPT]),
    "KgCoOpDePT": ("KgCoOpDePT", "KgCoOpDePT/toy_vit_s.yaml", BASE),
    "UCPCoOp": ("UCPCoOp", "UCPCoOp/toy_vit_s.yaml", BASE),
    "UCPCoOp_FRN": ("UCPCoOp", "UCPCoOp/toy_vit_s.yaml", [*BASE, "TRAINER.UCP.VERSION", "1"]),
    "UCPKgCoOp": ("UCPKgCoOp", "UCPKgCoOp/toy_vit_s.yaml", BASE),
    "UCPProGrad": ("UCPProGrad", "UCPProGrad/toy_vit_s.yaml", BASE),
    "UCPDAPT": ("UCPDAPT", "UCPDAPT/toy_vit_s.yaml", [*BASE, *SMALL_DAPT]),
    "UCPKgCoOpDePT": ("UCPKgCoOpDePT", "UCPKgCoOpDePT/toy_vit_s.yaml", BASE),
}


def rounded(value: float) -> float:
    """About 1e-8 relative: far below the comparison tolerance, short enough to read in a diff."""
    return float(f"{value:.9g}")


@torch.no_grad()
def fixed_batch_logits(trainer) -> list[list[float]]:
    """``model_inference`` on the first test images, in eval mode."""
    dataset = trainer.test_loader.dataset
    images = torch.stack([dataset[i]["img"] for i in range(N_IMAGES)]).to(trainer.device)
    trainer.set_model_mode("eval")
    logits = trainer.model_inference(images).float().cpu()
    return [[rounded(v) for v in row] for row in logits.tolist()]


def check_or_record(case: str, observed: dict) -> None:
    path = GOLDEN_DIR / f"{case}.json"
    if UPDATE:
        GOLDEN_DIR.mkdir(exist_ok=True)
        path.write_text(json.dumps(observed, indent=1) + "\n")
        return
    if not path.is_file():
        pytest.fail(f"no golden numbers for {case} at {path}; record them with GOLDEN_UPDATE=1")
    expected = json.loads(path.read_text())
    assert [sorted(s) for s in observed["losses"]] == [sorted(s) for s in expected["losses"]], (
        f"{case}: logged loss keys or step count changed")
    for step, (got, want) in enumerate(zip(observed["losses"], expected["losses"])):
        for key in want:
            assert math.isclose(got[key], want[key], rel_tol=RTOL, abs_tol=ATOL), (
                f"{case}: step {step} {key} = {got[key]!r}, golden {want[key]!r}")
    got = torch.tensor(observed["logits"], dtype=torch.float64)
    want = torch.tensor(expected["logits"], dtype=torch.float64)
    assert got.shape == want.shape, f"{case}: logits shape {tuple(got.shape)}, golden {tuple(want.shape)}"
    torch.testing.assert_close(got, want, rtol=RTOL, atol=ATOL, msg=lambda m: f"{case} logits: {m}")


@pytest.fixture(scope="module")
def golden_root(toy_world, tmp_path_factory):
    """A private copy of the toy data root: the DAPT prototype files written here stay this module's."""
    root = tmp_path_factory.mktemp("golden_data")
    src, dst = toy_world.root / "fashion_mnist", root / "fashion_mnist"
    dst.mkdir()
    (dst / "images").symlink_to(src / "images")
    shutil.copy(src / "split_zhou_FashionMNIST.json", dst)
    return root


def golden_run(toy_world, root, out, trainer_name, config, opts, flags=()):
    argv = toy_argv(toy_world, trainer_name, config, out, *COMMON, *opts, flags=flags)
    argv[argv.index("--root") + 1] = str(root)
    return run(argv)


def recorded_run(monkeypatch, toy_world, root, out, trainer_name, config, opts) -> tuple[dict, object]:
    """Train with every step recorded; returns the observed numbers and the trainer."""
    steps = record_steps(monkeypatch, trainer_name, convert=rounded)
    trainer = golden_run(toy_world, root, out, trainer_name, config, opts)
    if trainer_name.startswith("Zeroshot"):
        assert steps == []
    else:
        assert steps, f"{trainer_name}: no training step ran"
    return {"losses": steps, "logits": fixed_batch_logits(trainer)}, trainer


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_run(case, toy_world, golden_root, tmp_path, monkeypatch):
    trainer_name, config, opts = CASES[case]
    opts = [*opts, "TRAINER.UCP.CACHE_DIR", str(tmp_path / "tci")]
    if "DAPT" in trainer_name:
        golden_run(toy_world, golden_root, tmp_path / "proto", trainer_name, config,
                   [*opts, "TRAINER.DAPT.PROTOTYPE_GEN", "True"])
    observed, _ = recorded_run(monkeypatch, toy_world, golden_root, tmp_path / "run", trainer_name, config,
                               opts)
    check_or_record(case, observed)


@pytest.fixture(scope="module")
def promptkd_stage1(toy_world, golden_root, tmp_path_factory):
    """PromptKD (CAPT's stage 1, which also writes the Confusion Bank) with a random toy teacher."""
    from datasets.fashion_mnist import CLASSNAMES

    tmp = tmp_path_factory.mktemp("golden_kd")
    teachers = put_random_teacher(tmp / "teachers", toy_world.weights_dir, "FashionMNIST", CLASSNAMES)
    opts = [*KD, "TRAINER.PROMPTKD.TEACHER_ROOT", str(teachers)]
    with pytest.MonkeyPatch.context() as monkeypatch:
        observed, _ = recorded_run(monkeypatch, toy_world, golden_root, tmp / "stage1", "PromptKD",
                                   "PromptKD/toy_vit_s.yaml", opts)
    return observed, tmp / "stage1", teachers


def test_golden_promptkd(promptkd_stage1):
    check_or_record("PromptKD", promptkd_stage1[0])


@pytest.mark.parametrize("trainer_name", ["CAPT", "StackSPLE_PromptKD"])
def test_golden_capt_stage2(trainer_name, promptkd_stage1, toy_world, golden_root, tmp_path, monkeypatch):
    _, stage1, teachers = promptkd_stage1
    opts = [*CAPT_STAGE2, "SPLE.BACK_CKPT_PATH", str(stage1), "TRAINER.PROMPTKD.TEACHER_ROOT", str(teachers)]
    observed, _ = recorded_run(monkeypatch, toy_world, golden_root, tmp_path / "stage2", trainer_name,
                               "CAPT/toy_vit_s.yaml", opts)
    check_or_record("CAPT", observed)  # the alias runs the same trainer: the same numbers
