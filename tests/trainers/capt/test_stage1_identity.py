"""The stage-1 weights CAPT freezes are the ones its Confusion Bank was built from, and stage 2 checks them.

A 3-epoch stage 1 whose best epoch (2, forced through a fake validation history) is not its last (3), then
the published stage-2 command (``SPLE.BACK_CKPT_EPOCH 20``) on the 5-class toy world of ``test_pipeline``.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from test_pipeline import CONFIG1, SHRINK, argv, five_class_root, train, write_teacher

pytestmark = pytest.mark.slow

FAKE_VAL = {0: 10.0, 1: 90.0, 2: 50.0}  # epoch index -> "val" accuracy: the best epoch is 2, the last 3
CONFIG2 = "configs/trainers/SPLE/PromptKD/vit_b16_c2_ep20_batch4_4+4ctx.yaml"


def fake_val_history(monkeypatch):
    from trainers.promptkd import PromptKD

    real = PromptKD.test

    def test(self, split=None):
        result = real(self, split)
        return FAKE_VAL[self.epoch] if split == "val" else result  # only after_epoch passes split="val"

    monkeypatch.setattr(PromptKD, "test", test)


@pytest.fixture(scope="module")
def chain(toy_world, tmp_path_factory):
    from datasets.fashion_mnist import CLASSNAMES

    tmp = tmp_path_factory.mktemp("capt_identity")
    root = five_class_root(toy_world, tmp)
    write_teacher(tmp / "teacher_model", toy_world.weights_dir, list(CLASSNAMES[:5]))
    teacher = ["TRAINER.PROMPTKD.TEACHER_ROOT", str(tmp / "teacher_model")]
    stage1, stage2 = tmp / "stage1", tmp / "stage2"
    with pytest.MonkeyPatch.context() as mp:
        fake_val_history(mp)
        train(toy_world, argv(root, stage1, "PromptKD", CONFIG1,
                              ["DATASET.NUM_SHOTS", "0", "TRAINER.MODAL", "base2novel",
                               "TRAINER.PROMPTKD.KD_WEIGHT", "1000.0", "TEST.SPLIT", "val", *SHRINK, *teacher,
                               "OPTIM.MAX_EPOCH", "3"]))
    opts = ["DATASET.NUM_SHOTS", "16", "SPLE.BACK_CKPT_PATH", str(stage1), "SPLE.BACK_CKPT_EPOCH", "20",
            "SPLE.STACK.MODE", "converse", "SPLE.STACK.WEIGHT", "0.2", "DATASET.SUBSAMPLE_CLASSES", "base",
            "SPLE.STACK.WEIGHT_FOR_NEW", "0.0", "TRAINER.MODAL", "base2novel", "TEST.SPLIT", "val", *SHRINK,
            *teacher, "OPTIM.MAX_EPOCH", "1", "DATALOADER.TRAIN_X.BATCH_SIZE", "4", "TEST.FINAL_MODEL",
            "last_step"]
    trainer = train(toy_world, argv(root, stage2, "StackSPLE_PromptKD", CONFIG2, opts))
    return {"root": root, "stage1": stage1, "stage2": stage2, "opts": opts, "toy": toy_world, "tmp": tmp,
            "trainer": trainer}


def sha(path) -> str:
    from trainers.common.provenance import file_sha256

    return file_sha256(str(path))


def student_file(run_dir, name):
    return run_dir / "VLPromptLearner" / name


def test_stage1_best_is_not_last(chain):
    best = torch.load(student_file(chain["stage1"], "model-best.pth.tar"), weights_only=False)
    assert best["epoch"] == 2 and student_file(chain["stage1"], "model.pth.tar-3").is_file()
    assert sha(student_file(chain["stage1"], "model-best.pth.tar")) != sha(
        student_file(chain["stage1"], "model.pth.tar-3"))


def test_stage2_freezes_the_weights_that_built_the_bank(chain):
    from trainers.capt.bank import load_bank

    bank = load_bank(str(chain["stage1"] / "confusion_bank.pt"))
    frozen = chain["trainer"].stage2_meta["stage1_weights"]
    # the released precedence: the best file, the one PromptKD deployed and built the bank from
    assert frozen["file"] == str(student_file(chain["stage1"], "model-best.pth.tar"))
    assert bank["meta"]["weights"]["sha256"] == frozen["sha256"] == sha(frozen["file"])


def recompute_bank(trainer, bank):
    """The bank statistics of ``trainer``'s frozen student over the bank's own images (same settings)."""
    from trainers.capt.builder import collect_bank

    net = trainer.model
    items = list(zip(bank["paths"], bank["labels"].tolist()))
    return collect_bank(net.student, net.text_features[: net.num_base], net.logit_scale, items,
                        bank["classnames"], trainer.cfg, trainer.device)


def test_bank_features_equal_the_frozen_students(chain):
    from trainers.capt.bank import load_bank

    bank = load_bank(str(chain["stage1"] / "confusion_bank.pt"))
    again = recompute_bank(chain["trainer"], bank)
    assert torch.equal(again["features"], bank["features"])
    assert torch.equal(again["preds"], bank["preds"])


def test_resolved_rate_baseline_is_the_frozen_backbone(chain):
    backbone = json.loads((chain["stage2"] / "backbone_wrong_predictions.json").read_text())
    assert backbone["stage1_weights"]["sha256"] == sha(student_file(chain["stage1"], "model-best.pth.tar"))
    stage1 = json.loads((chain["stage1"] / "results.json").read_text())
    assert stage1["split"] == "val" and backbone["accuracy"] == stage1["accuracy"]
    assert backbone["num_samples"] == stage1["total"]
    # published selection: PromptKD picked its epoch on base test images, and CAPT froze that epoch
    assert stage1["selected_on_test"] is True
    assert json.loads((chain["stage2"] / "results.json").read_text())["selected_on_test"] is True


def test_other_weights_rebuild_the_bank(chain, tmp_path):
    """``CAPT.STAGE1_CHECKPOINT epoch`` freezes epoch 3: the bank of epoch 2 is rebuilt from epoch 3."""
    stage1 = tmp_path / "stage1"
    shutil.copytree(chain["stage1"], stage1)
    opts = list(chain["opts"])
    opts[opts.index("SPLE.BACK_CKPT_PATH") + 1] = str(stage1)
    opts += ["CAPT.STAGE1_CHECKPOINT", "epoch", "SPLE.BACK_CKPT_EPOCH", "3"]
    trainer = train(chain["toy"], argv(chain["root"], tmp_path / "stage2", "CAPT", CONFIG2, opts,
                                       extra=["--no-train"]))
    from trainers.capt.bank import load_bank

    bank = load_bank(str(stage1 / "confusion_bank.pt"))
    assert bank["meta"]["weights"]["file"] == str(student_file(stage1, "model.pth.tar-3"))
    assert bank["meta"]["weights"]["sha256"] == trainer.stage2_meta["stage1_weights"]["sha256"]
    assert torch.equal(recompute_bank(trainer, bank)["features"], bank["features"])


def eval_only(chain, out, *opts):
    base = list(chain["opts"])
    base[base.index("DATASET.SUBSAMPLE_CLASSES") + 1] = "new"
    base[base.index("TEST.SPLIT") + 1] = "test"
    return train(chain["toy"], argv(chain["root"], out, "CAPT", CONFIG2, [*base, *opts],
                                    extra=["--eval-only", "--model-dir", str(chain["stage2"])]))


def test_eval_only_refuses_another_mode(chain, tmp_path):
    with pytest.raises(ValueError, match=r"CAPT.MODE 'paper'.*CAPT.MODE 'released'"):
        eval_only(chain, tmp_path / "released", "CAPT.MODE", "released")


def test_eval_only_refuses_another_stage1_checkpoint(chain, tmp_path):
    stage1 = tmp_path / "stage1"  # a copy: building this evaluation rebuilds the bank of its stage 1
    shutil.copytree(chain["stage1"], stage1)
    with pytest.raises(ValueError) as err:
        eval_only(chain, tmp_path / "epoch3", "SPLE.BACK_CKPT_PATH", str(stage1),
                  "CAPT.STAGE1_CHECKPOINT", "epoch", "SPLE.BACK_CKPT_EPOCH", "3")
    message = str(err.value)
    assert str(student_file(chain["stage1"], "model-best.pth.tar")) in message
    assert str(student_file(stage1, "model.pth.tar-3")) in message


def test_eval_only_with_the_same_stage1_evaluates(chain, tmp_path):
    trainer = eval_only(chain, tmp_path / "new")
    assert trainer.weights_file == str(chain["stage2"] / "CAPT" / "model.pth.tar-1")
    assert json.loads((tmp_path / "new" / "results.json").read_text())["eval_classes"] == "new"
