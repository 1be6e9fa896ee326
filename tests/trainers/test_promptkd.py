"""PromptKD: teacher location and loading, the student, base2novel evaluation, STAGE1_HOOKS,
``load_promptkd_run``, and the CAPT stage-1 command line run verbatim on the toy world."""

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from vl_toy import REPO, results, run, toy_argv, trainable_names

import trainers.promptkd as promptkd
from clip.checkpoint_keys import to_upstream_state_dict
from datasets.fashion_mnist import CLASSNAMES

TOY_TEACHER = ["TRAINER.PROMPTKD.TEACHER_DEPTH", "2", "TRAINER.PROMPTKD.TEACHER_N_CTX", "4"]


def toy_cfg(weights_dir, teacher_root, **overrides):
    from dassl.config import extend_cfg, get_cfg_default

    cfg = extend_cfg(get_cfg_default())
    cfg.DATASET.NAME = "FashionMNIST"
    cfg.INPUT.SIZE = (32, 32)
    cfg.MODEL.BACKBONE.NAME = "ToyViT-S"
    cfg.MODEL.CLIP_WEIGHTS_DIR = str(weights_dir)
    node = cfg.TRAINER.PROMPTKD
    node.TEACHER_NAME, node.TEACHER_ROOT, node.TEACHER_DEPTH = "ToyViT-L", str(teacher_root), 2
    node.PROMPT_DEPTH_VISION = 2
    for key, value in overrides.items():
        setattr(node, key, value)
    return cfg


def test_promptkd_config_keys():
    from dassl.config import extend_cfg, get_cfg_default

    cfg = extend_cfg(get_cfg_default())
    node = cfg.TRAINER.PROMPTKD
    assert cfg.TRAINER.MODAL == "base2novel" and cfg.TEST.NO_TEST is False
    assert node.TEACHER_NAME == "ViT-L/14" and node.TEACHER_ROOT == "teacher_model"
    assert (node.TEACHER_DEPTH, node.TEACHER_N_CTX, node.KD_WEIGHT, node.TEMPERATURE) == (9, 4, 1.0, 1.0)


def test_feature_projector_layout_and_shapes():
    proj = promptkd.FeatureProjector(512, 768)
    keys = set(proj.state_dict())
    assert {
        "conv1.0.weight",
        "conv1.0.bias",
        "conv1.1.running_mean",
        "conv1.1.num_batches_tracked",
        "conv1.3.weight",
        "conv1.3.bias",
    } <= keys
    assert proj.conv1[0].weight.shape == (768, 512, 1, 1)
    assert proj(torch.randn(4, 512)).shape == (4, 768)


# ------------------------------------------------------------------ synthetic teacher in the upstream layout
def write_upstream_teacher(path, weights_dir, classnames, drop=()):
    """A Dassl checkpoint of a PromptSRC ToyViT-L model in the upstream key layout (prompts inside CLIP,
    a zero-shot tower copy, split class buffers); returns the source model."""
    from clip import load
    from trainers.common.vl_prompt import IVLPDesign, VLPromptModel

    torch.manual_seed(5)
    model = VLPromptModel(
        load("ToyViT-L", weights_dir=str(weights_dir))[0], classnames, IVLPDesign(4, 4, 2, 2)
    )
    with torch.no_grad():
        for p in model.trainable_params():
            p.normal_(std=0.1)
    state = to_upstream_state_dict(model.state_dict())
    for key in list(state):
        if key.startswith("image_encoder.") and "VPT" not in key:
            state["prompt_learner.ZS_image_encoder." + key[len("image_encoder.") :]] = state[key].clone()
    prefix, suffix = state.pop("prompt_learner.token_prefix"), state.pop("prompt_learner.token_suffix")
    half = (len(classnames) + 1) // 2
    state.update(
        {
            "prompt_learner.token_prefix": prefix[:half],
            "prompt_learner.token_prefix2": prefix[half:],
            "prompt_learner.token_suffix": suffix[:half],
            "prompt_learner.token_suffix2": suffix[half:],
        }
    )
    for key in drop:
        del state[key]
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {"state_dict": state, "epoch": 20, "optimizer": None, "scheduler": None, "val_result": None}, path
    )
    return model


CLASSES = list(CLASSNAMES)


def test_upstream_teacher_loads_with_every_key_accounted_for(toy_weights_dir, tmp_path, capsys):
    path = tmp_path / "FashionMNIST" / "VLPromptLearner" / "model-best.pth.tar"
    source = write_upstream_teacher(path, toy_weights_dir, CLASSES[:5])  # trained on base classes
    cfg = toy_cfg(toy_weights_dir, tmp_path)
    teacher = promptkd.build_teacher(cfg, CLASSES, "cpu", "fp32")
    out = capsys.readouterr().out
    assert "dropped 4" in out and "ignored" in out and "missing 2" in out  # token buffers rebuilt
    for name in (
        "prompt_learner.ctx",
        "vision_prompts.shallow",
        "vision_prompts.deep.0",
        "text_prompts.deep.0",
    ):
        assert torch.equal(teacher.model.get_parameter(name), source.get_parameter(name)), name
    assert teacher.text_features.shape == (10, 96)
    assert torch.allclose(teacher.text_features.norm(dim=-1), torch.ones(10))
    # The base-class rows equal the source model's text features (same prompts, same class prompts).
    with torch.no_grad():
        src = source.encode_text()
    assert torch.allclose(teacher.text_features[:5], src / src.norm(dim=-1, keepdim=True), atol=1e-5)
    teacher.train()
    assert not teacher.training and not teacher.model.training
    assert not any(p.requires_grad for p in teacher.parameters())
    logits = teacher(torch.randn(3, 3, 32, 32))
    assert logits.shape == (3, 10)


def test_teacher_missing_a_vpt_key_fails_loudly(toy_weights_dir, tmp_path):
    path = tmp_path / "FashionMNIST" / "VLPromptLearner" / "model-best.pth.tar"
    write_upstream_teacher(
        path, toy_weights_dir, CLASSES[:5], drop=["image_encoder.transformer.resblocks.1.VPT_shallow"]
    )
    with pytest.raises(ValueError, match="vision_prompts.deep.0"):
        promptkd.build_teacher(toy_cfg(toy_weights_dir, tmp_path), CLASSES, "cpu", "fp32")
    write_upstream_teacher(path, toy_weights_dir, CLASSES[:5], drop=["prompt_learner.ctx"])
    with pytest.raises(ValueError, match="prompt_learner.ctx"):
        promptkd.build_teacher(toy_cfg(toy_weights_dir, tmp_path), CLASSES, "cpu", "fp32")
    # A teacher design that does not match the checkpoint is a shape/key error, not a silent init.
    write_upstream_teacher(path, toy_weights_dir, CLASSES[:5])
    with pytest.raises(ValueError):
        promptkd.build_teacher(toy_cfg(toy_weights_dir, tmp_path, TEACHER_N_CTX=2), CLASSES, "cpu", "fp32")


def test_student_trains_only_prompts_and_projection(toy_weights_dir):
    from clip import load

    clip_model = load("ToyViT-S", weights_dir=str(toy_weights_dir))[0]
    student = promptkd.PromptKDStudent(clip_model, n_ctx_vision=4, depth_vision=3, teacher_dim=96)
    names = {n for n, p in student.named_parameters() if any(p is q for q in student.trainable_params())}
    assert names == {
        "vision_prompts.shallow",
        "vision_prompts.deep.0",
        "vision_prompts.deep.1",
        "VPT_image_trans.conv1.0.weight",
        "VPT_image_trans.conv1.0.bias",
        "VPT_image_trans.conv1.1.weight",
        "VPT_image_trans.conv1.1.bias",
        "VPT_image_trans.conv1.3.weight",
        "VPT_image_trans.conv1.3.bias",
    }
    assert not any(k.startswith("text") for k in student.state_dict())
    feats = student(torch.randn(4, 3, 32, 32))
    assert feats.shape == (4, 96) and torch.allclose(feats.norm(dim=-1), torch.ones(4), atol=1e-5)


# ------------------------------------------------------------------ end to end
@pytest.fixture(scope="module")
def toy_teacher_run(toy_world, tmp_path_factory):
    """The toy teacher recipe: PromptSRC on ToyViT-L, base classes (shortened to 1 epoch)."""
    out = tmp_path_factory.mktemp("teacher_run")
    run(
        toy_argv(
            toy_world,
            "PromptSRC",
            "PromptSRC/toy_vit_l.yaml",
            out,
            "DATASET.NUM_SHOTS",
            "4",
            "DATASET.SUBSAMPLE_CLASSES",
            "base",
            "OPTIM.MAX_EPOCH",
            "1",
            "TRAINER.PROMPTSRC.GPA_MEAN",
            "1",
        )
    )
    return out / "VLPromptLearner" / "model.pth.tar-1"


@pytest.mark.slow
def test_promptkd_base2novel_distillation(toy_world, toy_teacher_run, tmp_path, monkeypatch, capsys,
                                          logged_trainable):
    teacher_root = tmp_path / "teachers"
    (teacher_root / "FashionMNIST" / "VLPromptLearner").mkdir(parents=True)
    # As a PromptSRC run leaves it: only the last-epoch file; the loader falls back to it.
    shutil.copy(toy_teacher_run, teacher_root / "FashionMNIST" / "VLPromptLearner" / "model.pth.tar-1")
    seen = []
    monkeypatch.setattr(promptkd, "STAGE1_HOOKS", [lambda trainer: seen.append(trainer)])
    out = tmp_path / "kd"
    opts = [
        "DATASET.NUM_SHOTS",
        "0",
        "TRAINER.MODAL",
        "base2novel",
        "TRAINER.PROMPTKD.TEMPERATURE",
        "1.0",
        "TRAINER.PROMPTKD.KD_WEIGHT",
        "1000.0",
        "OPTIM.MAX_EPOCH",
        "2",
        "DATALOADER.TRAIN_X.BATCH_SIZE",
        "32",
        "TRAINER.PROMPTKD.TEACHER_ROOT",
        str(teacher_root),
    ]
    trainer = run(toy_argv(toy_world, "PromptKD", "PromptKD/toy_vit_s.yaml", out, *opts))
    log = (out / "log.txt").read_text()

    assert seen == [trainer]
    assert "using the last-epoch file" in log
    assert len(trainer.dm.dataset.train_x) == 10 * 12  # whole train split, every class
    assert trainable_names(trainer) == {
        "vision_prompts.shallow",
        "vision_prompts.deep.0",
        *(f"VPT_image_trans.conv1.{i}.{p}" for i in (0, 1, 3) for p in ("weight", "bias")),
    }
    assert logged_trainable(log) == sorted(trainable_names(trainer))  # the log lists them, sorted
    assert not trainer.teacher.training and trainer.teacher.text_features.shape == (10, 96)
    assert (
        log.count("Evaluate on the *val* set") == 2 and log.rstrip().count("Evaluate on the *test* set") == 1
    )
    assert (out / "VLPromptLearner" / "model-best.pth.tar").is_file()
    final = results(out)
    assert final["split"] == "test" and final["total"] == 5 * 6  # new classes, relabelled
    # The split's own items name its classes: the new half, although SUBSAMPLE_CLASSES is "all".
    assert final["eval_classes"] == "new" and final["subsample_classes"] == "all"
    new_names = trainer.dm.dataset.new_classnames
    assert [c["classname"] for c in final["per_class"]] == new_names
    wrong = json.loads((out / "wrong_predictions.json").read_text())
    assert wrong["classnames"] == new_names
    history = final["history"]
    best_val = max(h["accuracy"] for h in history if h["split"] == "val")
    state = torch.load(out / "VLPromptLearner" / "model-best.pth.tar", map_location="cpu", weights_only=False)
    assert state["val_result"] == pytest.approx(best_val)
    assert {
        "image_encoder.conv1.weight",
        "vision_prompts.shallow",
        "VPT_image_trans.conv1.1.running_mean",
        "logit_scale",
    } <= set(state["state_dict"])
    assert not any(k.startswith(("teacher", "text_")) for k in state["state_dict"])

    # Teacher text features are encoded once per run, not per batch or evaluation.
    calls = []
    original = trainer.teacher.model.encode_text
    monkeypatch.setattr(trainer.teacher.model, "encode_text", lambda: calls.append(1) or original())
    assert trainer.test("val") == pytest.approx(best_val)
    assert calls == []

    # Rebuilding the run gives the trainer's logits: base half for "val", new half for "test".
    images = torch.stack([trainer.test_loader.dataset[i]["img"] for i in range(4)]).to(trainer.device)
    rebuilt = promptkd.load_promptkd_run(trainer.cfg, str(out), device=trainer.device,
                                         classnames=trainer.classnames)
    assert rebuilt.num_base == 5 and rebuilt.text_features.shape == (10, 96)
    assert not any(p.requires_grad for p in rebuilt.student.parameters()) and not rebuilt.student.training
    trainer.set_model_mode("eval")
    with torch.no_grad():
        trainer._eval_split = "test"
        expected_new = trainer.model_inference(images)
        trainer._eval_split = "val"
        expected_base = trainer.model_inference(images)
    assert torch.allclose(rebuilt.logits(images, "new"), expected_new, atol=1e-4)
    assert torch.allclose(rebuilt.logits(images, "base"), expected_base, atol=1e-4)
    assert rebuilt.logits(images).shape == (4, 10)

    # New-class accuracy of the best model through --eval-only (no --load-epoch -> best file).
    eval_out = tmp_path / "eval_new"
    run(
        toy_argv(
            toy_world,
            "PromptKD",
            "PromptKD/toy_vit_s.yaml",
            eval_out,
            *opts,
            "TEST.SPLIT",
            "test",
            flags=["--eval-only", "--model-dir", str(out)],
        )
    )
    assert results(eval_out)["accuracy"] == pytest.approx(final["accuracy"])


def fake_caltech_root(toy_world, cwd):
    """``DATA/caltech-101`` laid out as Caltech101 but holding the toy images and split."""
    root = cwd / "DATA" / "caltech-101"
    root.mkdir(parents=True)
    source = Path(toy_world.root) / "fashion_mnist"
    os.symlink(source / "images", root / "101_ObjectCategories")
    split = json.loads((source / "split_zhou_FashionMNIST.json").read_text())
    (root / "split_zhou_Caltech101.json").write_text(json.dumps(split))
    return root


@pytest.mark.slow
def test_capt_stage1_command_runs_verbatim(toy_world, toy_teacher_run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("configs", "scripts"):
        os.symlink(REPO / name, tmp_path / name)
    fake_caltech_root(toy_world, tmp_path)
    teacher = tmp_path / "teacher_model" / "Caltech101" / "VLPromptLearner" / "model-best.pth.tar"
    teacher.parent.mkdir(parents=True)
    shutil.copy(toy_teacher_run, teacher)
    command = (
        "--root DATA/caltech-101 --seed 1 --trainer PromptKD "
        "--dataset-config-file configs/datasets/caltech101.yaml "
        "--config-file configs/trainers/PromptKD/vit_b16_c2_ep20_batch32_4+4ctx.yaml "
        "--output-dir output/PromptKD/base2new/train_base/caltech101/1_PromptKD_baseline/"
        "vit_b16_c2_ep20_batch32_4+4ctx/seed1 "
        "DATASET.NUM_SHOTS 0 TRAINER.MODAL base2novel TRAINER.PROMPTKD.TEMPERATURE 1.0 "
        "TRAINER.PROMPTKD.KD_WEIGHT 1000.0 TEST.SPLIT val"
    ).split()
    # Only what the toy CLIPs need: their input size and depth, a short schedule, and the weights folder.
    shrink = [
        "OPTIM.MAX_EPOCH",
        "1",
        "INPUT.SIZE",
        "(32, 32)",
        "TRAINER.PROMPTKD.PROMPT_DEPTH_VISION",
        "2",
        "TRAINER.PROMPTKD.TEACHER_DEPTH",
        "2",
        "MODEL.CLIP_WEIGHTS_DIR",
        str(toy_world.weights_dir),
    ]
    trainer = run(command + shrink)
    out = (
        tmp_path
        / "output/PromptKD/base2new/train_base/caltech101/1_PromptKD_baseline"
        / "vit_b16_c2_ep20_batch32_4+4ctx/seed1"
    )
    assert trainer.cfg.DATALOADER.TRAIN_X.BATCH_SIZE == 32
    assert (
        trainer.cfg.MODEL.BACKBONE.NAME == "ViT-B/16"
        and trainer.cfg.TRAINER.PROMPTKD.TEACHER_NAME == "ViT-L/14"
    )
    assert (out / "VLPromptLearner" / "model-best.pth.tar").is_file()
    final = results(out)
    assert final["split"] == "val" and final["total"] == 5 * 6  # TEST.SPLIT val: base-class test set
