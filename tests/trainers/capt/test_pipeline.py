"""End-to-end on the toy world: the two published command lines, the bank, new-class evaluation both ways.

The dataset is reduced to 5 classes (3 base / 2 new) so that the base and new class counts differ. Only
KEY VALUE overrides that shrink the run (epochs, batch, input size, prompt depth of the 6-layer toy CLIPs)
and point at the toy teacher are appended to the published commands.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch

pytestmark = pytest.mark.slow

CLASSES = 5  # -> 3 base, 2 new
OUT = "output/PromptKD/base2new/train_base/caltech101"
STAGE1 = f"{OUT}/1_PromptKD_baseline/vit_b16_c2_ep20_batch32_4+4ctx/seed1"
STAGE2 = f"{OUT}/3_SPLE_converse/vit_b16_c2_ep20_batch4_4+4ctx_con20/seed1"
CONFIG1 = "configs/trainers/PromptKD/vit_b16_c2_ep20_batch32_4+4ctx.yaml"
SHRINK = ["INPUT.SIZE", "(32, 32)", "OPTIM.MAX_EPOCH", "1", "DATALOADER.TRAIN_X.BATCH_SIZE", "8",
          "DATALOADER.TEST.BATCH_SIZE", "64", "DATALOADER.NUM_WORKERS", "0",
          "TRAINER.PROMPTKD.PROMPT_DEPTH_VISION", "2", "TRAINER.PROMPTKD.TEACHER_DEPTH", "2",
          "TRAINER.PROMPTKD.PREC", "fp32", "TRAIN.PRINT_FREQ", "1000"]


def five_class_root(toy_world, tmp_path):
    """A copy of the toy data root whose split keeps the first 5 classes."""
    src = toy_world.root / "fashion_mnist"
    dst = tmp_path / "data" / "fashion_mnist"
    dst.mkdir(parents=True)
    (dst / "images").symlink_to(src / "images")
    split = json.loads((src / "split_zhou_FashionMNIST.json").read_text())
    small = {k: [e for e in v if e[1] < CLASSES] for k, v in split.items()}
    (dst / "split_zhou_FashionMNIST.json").write_text(json.dumps(small))
    return tmp_path / "data"


def write_teacher(root, weights_dir, names):
    """A toy PromptKD teacher checkpoint (random prompts on the ToyViT-L alias) where PromptKD looks."""
    from clip import load
    from trainers.common.vl_prompt import IVLPDesign, VLPromptModel

    clip_model, _ = load("ViT-L-14", weights_dir=str(weights_dir))
    torch.manual_seed(0)
    model = VLPromptModel(clip_model, names, IVLPDesign(4, 4, 2, 2, "a photo of a"))
    path = root / "FashionMNIST" / "VLPromptLearner" / "model-best.pth.tar"
    path.parent.mkdir(parents=True)
    torch.save({"state_dict": model.state_dict(), "epoch": 1}, path)


def train(toy, args):
    """``train.main`` with the toy weights; returns the trainer."""
    import train as entry

    return entry.main([*args, "MODEL.CLIP_WEIGHTS_DIR", str(toy.weights_dir)])


def argv(root, out, trainer, config, opts, extra=()):
    return ["--root", str(root), "--seed", "1", "--trainer", trainer,
            "--dataset-config-file", "configs/datasets/fashion_mnist.yaml", "--config-file", config,
            "--output-dir", str(out), *extra, *opts]


@pytest.fixture(scope="module")
def runs(toy_world, tmp_path_factory):
    from datasets.fashion_mnist import CLASSNAMES

    tmp = tmp_path_factory.mktemp("capt")
    root = five_class_root(toy_world, tmp)
    write_teacher(tmp / "teacher_model", toy_world.weights_dir, list(CLASSNAMES[:CLASSES]))
    teacher = ["TRAINER.PROMPTKD.TEACHER_ROOT", str(tmp / "teacher_model")]
    stage1, stage2 = tmp / STAGE1, tmp / STAGE2
    train(toy_world, argv(root, stage1, "PromptKD", CONFIG1,
                          ["DATASET.NUM_SHOTS", "0", "TRAINER.MODAL", "base2novel",
                           "TRAINER.PROMPTKD.TEMPERATURE", "1.0", "TRAINER.PROMPTKD.KD_WEIGHT", "1000.0",
                           "TEST.SPLIT", "val", *SHRINK, *teacher]))
    stage2_opts = ["DATASET.NUM_SHOTS", "16", "SPLE.BACK_CKPT_PATH", str(stage1),
                   "SPLE.BACK_CKPT_EPOCH", "20",
                   "SPLE.PIC_LIB", str(tmp / "DATA/SPLE_database/SPLE_Caltech101.json"),
                   "SPLE.STACK.MODE", "converse", "SPLE.STACK.WEIGHT", "0.2",
                   "DATASET.SUBSAMPLE_CLASSES", "base", "SPLE.STACK.WEIGHT_FOR_NEW", "0.0",
                   "TRAINER.MODAL", "base2novel", "TRAINER.PROMPTKD.TEMPERATURE", "1.0",
                   "TRAINER.PROMPTKD.KD_WEIGHT", "1000.0", "TEST.SPLIT", "val", *SHRINK, *teacher,
                   "OPTIM.MAX_EPOCH", "2", "DATALOADER.TRAIN_X.BATCH_SIZE", "4", "CAPT.BANK.NUM_VIEWS", "2"]
    config2 = "configs/trainers/SPLE/PromptKD/vit_b16_c2_ep20_batch4_4+4ctx.yaml"
    trainer = train(toy_world, argv(root, stage2, "StackSPLE_PromptKD", config2, stage2_opts))
    return {"root": root, "stage1": stage1, "stage2": stage2, "opts": stage2_opts, "config2": config2,
            "toy": toy_world, "tmp": tmp, "trainer": trainer}


def test_stage1_builds_the_bank(runs):
    from trainers.capt.bank import load_bank

    bank = torch.load(runs["stage1"] / "confusion_bank.pt", weights_only=True)
    assert bank["classnames"] == ["t-shirt", "trouser", "pullover"]
    assert set(bank["labels"].tolist()) == {0, 1, 2}  # base classes only
    assert len(bank["paths"]) == 3 * 12 and all("test_" not in p for p in bank["paths"])
    assert load_bank(str(runs["stage1"] / "confusion_bank.pt"))["N"].shape == (3, 3)


def test_stage2_log_lists_only_adapter_and_mgde_tensors(runs, logged_trainable):
    names = logged_trainable((runs["stage2"] / "log.txt").read_text())
    assert any(n.startswith("adapters.") for n in names) and any(n.startswith("mgde.") for n in names)
    assert all(n.startswith(("adapters.", "mgde.")) for n in names) and names == sorted(names)
    assert len(names) == len(runs["trainer"].model.trainable_params())


def test_stage2_results_checkpoint_and_compare(runs):
    stage2 = runs["stage2"]
    results = json.loads((stage2 / "results.json").read_text())
    assert results["split"] == "val" and results["total"] == 3 * 6
    wrong = json.loads((stage2 / "wrong_predictions.json").read_text())
    assert wrong["classnames"] == ["t-shirt", "trouser", "pullover"]
    ckpt = torch.load(stage2 / "CAPT" / "model.pth.tar-2", weights_only=False, map_location="cpu")
    keys = [k for k in ckpt["state_dict"] if k != "_extra_state"]
    assert keys and all(k.startswith(("adapters.", "mgde.")) for k in keys)
    assert ckpt["state_dict"]["_extra_state"]["stage1_dir"].endswith("seed1")
    from tools.confusion.compare_runs import run

    result = run(str(runs["stage1"]), str(stage2))
    assert result["split"] == "val" and (stage2 / "confusion_compare.json").exists()


def new_class_results(path):
    results = json.loads((path / "results.json").read_text())
    assert results["split"] == "test" and results["total"] == 2 * 6
    # the two new classes, named from the evaluated items although their labels restart at 0
    assert results["eval_classes"] == "new"
    assert [c["classname"] for c in results["per_class"]] == ["dress", "coat"]
    return results["accuracy"]


def test_new_classes_by_eval_only_and_by_rerun(runs):
    toy, opts = runs["toy"], list(runs["opts"])
    i = opts.index("DATASET.SUBSAMPLE_CLASSES")
    opts[i + 1] = "new"
    j = opts.index("TEST.SPLIT")
    eval_opts = opts[:j] + ["TEST.SPLIT", "test"] + opts[j + 2:]
    eval_opts[eval_opts.index("SPLE.BACK_CKPT_PATH") + 1] = ""  # found through the stage-2 metadata
    eval_dir = runs["tmp"] / "test_new"
    train(toy, argv(runs["root"], eval_dir, "StackSPLE_PromptKD", runs["config2"], eval_opts,
                       extra=["--eval-only", "--model-dir", str(runs["stage2"])]))
    acc_eval = new_class_results(eval_dir)
    rerun_dir = runs["tmp"] / "rerun"
    shutil.copytree(runs["stage2"], rerun_dir)
    # a finished stage-2 folder re-tested on the new classes (the other half: a deliberate config change)
    train(toy, argv(runs["root"], rerun_dir, "StackSPLE_PromptKD", runs["config2"], opts,
                    extra=["--accept-config-change"]))
    acc_rerun = new_class_results(rerun_dir / "new_classes")
    # WEIGHT_FOR_NEW 0: new-class accuracy is the stage-1 PromptKD accuracy on the new test set
    train(toy, argv(runs["root"], runs["tmp"] / "stage1_new", "PromptKD", CONFIG1,
                    ["DATASET.NUM_SHOTS", "0", "TRAINER.MODAL", "base2novel", "TEST.SPLIT", "test", *SHRINK,
                     "TRAINER.PROMPTKD.TEACHER_ROOT", str(runs["tmp"] / "teacher_model")],
                    extra=["--eval-only", "--model-dir", str(runs["stage1"])]))
    assert acc_eval == acc_rerun == new_class_results(runs["tmp"] / "stage1_new")


def reevaluate_without_backbone_work(trainer, run_dir, tmp_path, monkeypatch):
    """Evaluate ``trainer`` on the base test split again (into ``tmp_path``): the frozen backbone was scored
    by the run's own evaluation, so it is neither scored again nor run again, and its file is the same."""
    import trainers.capt.stage2 as stage2

    tees, tee = [], stage2.BackboneTee
    monkeypatch.setattr(stage2, "BackboneTee", lambda *args: tees.append(args) or tee(*args))
    tmp_path.mkdir(exist_ok=True)
    monkeypatch.setattr(trainer, "output_dir", str(tmp_path))
    trainer.test("val")
    assert tees == []
    name = "backbone_wrong_predictions.json"
    assert json.loads((tmp_path / name).read_text()) == json.loads((run_dir / name).read_text())


def test_frozen_backbone_is_scored_once_per_split(runs, tmp_path, monkeypatch):
    reevaluate_without_backbone_work(runs["trainer"], runs["stage2"], tmp_path, monkeypatch)


def test_weight_for_new_zero_gives_stage1_logits(runs):
    trainer = runs["trainer"]
    images = torch.randn(3, 3, 32, 32, device=trainer.device)
    trainer._eval_split = "test"
    out = trainer.model_inference(images)
    expected = trainer.model.stage1(images, "new")[0]
    assert torch.equal(out, expected) and out.shape == (3, 2)


def test_standalone_bank_tool(runs, tmp_path):
    from tools.confusion import build_bank

    run_dir = tmp_path / "copy"
    shutil.copytree(runs["stage1"], run_dir)
    (run_dir / "confusion_bank.pt").unlink()
    build_bank.main(["--run-dir", str(run_dir), "--device", "cpu", "CAPT.BANK.NUM_VIEWS", "1",
                     "MODEL.CLIP_WEIGHTS_DIR", str(runs["toy"].weights_dir)])
    bank = torch.load(run_dir / "confusion_bank.pt", weights_only=True)
    assert bank["view_preds"].shape == (36, 1)


def test_released_mode_replica_trains(runs, logged_trainable, tmp_path, monkeypatch):
    out = runs["tmp"] / "released"
    opts = [*runs["opts"], "CAPT.MODE", "released", "OPTIM.MAX_EPOCH", "1", "SPLE.INFER_TOPK", "2"]
    trainer = train(runs["toy"], argv(runs["root"], out, "CAPT", runs["config2"], opts))
    assert json.loads((out / "results.json").read_text())["split"] == "val"
    # the frozen backbone, scored beside the replica, is stage 1 on the same base-class test images
    backbone = json.loads((out / "backbone_wrong_predictions.json").read_text())
    assert backbone["accuracy"] == json.loads((runs["stage1"] / "results.json").read_text())["accuracy"]
    calls, backbone_logits = [], trainer.released.backbone_logits
    monkeypatch.setattr(trainer.released, "backbone_logits", lambda x: calls.append(x) or backbone_logits(x))
    reevaluate_without_backbone_work(trainer, out, tmp_path / "again", monkeypatch)
    assert calls == []  # the extra stage-1 pass of the replica's backbone file runs once per split
    state = torch.load(out / "CAPT" / "model.pth.tar-1", weights_only=False)["state_dict"]
    assert "ctx" in state and any(k.startswith("VPT_image_trans.") for k in state)
    assert "VPT_image_trans.conv1.1.running_mean" in state  # the projector's BatchNorm trained (train mode)
    # WEIGHT_FOR_NEW 0: new classes use the stage-1 student exactly (its prompts and projector)
    from trainers.promptkd import load_promptkd_run

    meta = state["_extra_state"]
    stage1 = load_promptkd_run(trainer.cfg, meta["stage1_dir"], epoch=meta["stage1_epoch"],
                               device=trainer.device, classnames=list(trainer.dm.dataset.all_classnames))
    images = torch.randn(2, 3, 32, 32, device=trainer.device)
    trainer._eval_split = "test"
    trainer.set_model_mode("eval")
    assert torch.equal(trainer.model_inference(images), stage1.logits(images, "new"))
    bn = trainer.released.model.student.VPT_image_trans.conv1[1]
    assert not torch.equal(bn.running_mean, stage1.student.VPT_image_trans.conv1[1].running_mean)
    names = logged_trainable((out / "log.txt").read_text())
    assert "ctx" in names and "student.VPT_image_trans.conv1.1.weight" in names
    assert not any(n.startswith(("stage1_", "teacher.", "student.image_encoder.")) for n in names)
