"""The five CaPT trainers through ``train.main`` on the toy world: base training, new-class evaluation."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vl_toy import results, run, toy_argv  # noqa: E402

from datasets.templates import get_templates  # noqa: E402
from trainers.ucp.margin_loss import class_similarity  # noqa: E402
from trainers.ucp.tci import extract_tci  # noqa: E402

NEW = ["sandal", "shirt", "sneaker", "bag", "ankle boot"]
TRAINERS = ["UCPCoOp", "UCPKgCoOp", "UCPProGrad", "UCPDAPT", "UCPKgCoOpDePT"]


def fast(tmp_path):
    return ["DATASET.NUM_SHOTS", "2", "OPTIM.MAX_EPOCH", "1", "TRAIN.COLLECT_ENV_INFO", "False",
            "TRAINER.UCP.CACHE_DIR", str(tmp_path / "tci_cache"), "TRAINER.DAPT.VIS_NUM_TOKENS", "4",
            "TRAINER.DAPT.TXT_NUM_TOKENS", "4"]


def _train_and_eval_new(toy_world, tmp_path, trainer_name, *extra):
    cfg = f"{trainer_name}/toy_vit_s.yaml"
    opts = [*fast(tmp_path), *extra]
    if "DAPT" in trainer_name:
        run(toy_argv(toy_world, trainer_name, cfg, tmp_path / "proto", *opts,
                     "TRAINER.DAPT.PROTOTYPE_GEN", "True"))
    out = tmp_path / "train_base"
    trainer = run(toy_argv(toy_world, trainer_name, cfg, out, *opts, "DATASET.SUBSAMPLE_CLASSES", "base"))
    tester = run(toy_argv(toy_world, trainer_name, cfg, tmp_path / "test_new", *opts,
                          "DATASET.SUBSAMPLE_CLASSES", "new",
                          flags=["--model-dir", str(out), "--load-epoch", "-1", "--eval-only"]))
    state = torch.load(out / "learnable_params" / "model.pth.tar-1", map_location="cpu",
                       weights_only=False)["state_dict"]
    return trainer, tester, state


@pytest.mark.slow
@pytest.mark.parametrize("trainer_name", TRAINERS)
def test_capt_trainer_base_to_new(toy_world, tmp_path, trainer_name):
    trainer, tester, state = _train_and_eval_new(toy_world, tmp_path, trainer_name)
    ucp_keys = {k for k in state if ".ucp." in k}
    assert ucp_keys == {f"prompt_learner.ucp.unified_transfer.{m}.{p}" for m in ("down", "up")
                        for p in ("weight", "bias")}
    assert not any("class_tokens" in k for k in state)
    # the meta-net trained (it receives gradients from every class prompt) and is what the tester runs
    conditioner = trainer.model.prompt_learner.ucp
    trained = {n for n, p in trainer.model.learnable_params.named_parameters() if p.requires_grad}
    assert "prompt_learner.ucp.unified_transfer.down.weight" in trained
    new_cond = tester.model.prompt_learner.ucp
    up = state["prompt_learner.ucp.unified_transfer.up.weight"]
    assert torch.equal(new_cond.unified_transfer.up.weight.cpu(), up)
    # TCI recomputed for the new names with the dataset template
    template = get_templates("FashionMNIST").zero_shot
    assert tester.dm.dataset.classnames == NEW
    expected = extract_tci(tester.model.clip, NEW, template)
    assert torch.allclose(new_cond.class_tokens.float(), expected, atol=1e-5)
    assert not torch.allclose(new_cond.class_tokens[:5].float(), conditioner.class_tokens.float())
    # margin built from the TCI similarity of the training classes with the configured smoothing
    margin = trainer.plugin.margin_loss
    assert torch.allclose(margin.similarity, class_similarity(conditioner.class_tokens))
    assert margin.smoothing == pytest.approx(trainer.cfg.TRAINER.UCP.LOSS.SMOOTH)
    assert results(tmp_path / "train_base")["total"] == 5 * 6
    assert results(tmp_path / "test_new")["total"] == 5 * 6
    if trainer_name == "UCPKgCoOpDePT":
        assert tester.model.head is None
        new_group = {id(p) for p in trainer.optim.param_groups[1]["params"]}
        assert id(conditioner.unified_transfer.down.weight) not in new_group
        assert trainer.optim.param_groups[1]["initial_lr"] == pytest.approx(trainer.cfg.OPTIM.LR * 18.0)


@pytest.mark.slow
def test_tci_cache_is_reused_between_runs(toy_world, tmp_path):
    _train_and_eval_new(toy_world, tmp_path, "UCPKgCoOp")
    files = sorted(p.name for p in (tmp_path / "tci_cache").glob("*.pt"))
    assert len(files) == 2 and files[0].startswith("clip_base_FashionMNIST_")
    again = tmp_path / "again"
    run(toy_argv(toy_world, "UCPKgCoOp", "UCPKgCoOp/toy_vit_s.yaml", again, *fast(tmp_path),
                 "DATASET.SUBSAMPLE_CLASSES", "base", flags=["--no-train"]))
    assert "Loading wordvecs from cache" in (again / "log.txt").read_text()


@pytest.mark.slow
def test_frn_condition_is_saved_and_restored_for_new_classes(toy_world, tmp_path):
    trainer, tester, state = _train_and_eval_new(toy_world, tmp_path, "UCPCoOp", "TRAINER.UCP.VERSION", "1")
    saved = state["prompt_learner.ucp.condition"]
    assert saved.shape == (1, 64)
    assert torch.equal(tester.model.prompt_learner.ucp.condition.cpu(), saved)
    offsets = tester.model.prompt_learner.ucp.eval().offsets()
    assert offsets.shape == (1, 64)  # one offset shared by all classes


@pytest.mark.slow
@pytest.mark.parametrize("version", [2, 3])
def test_visual_conditions_are_means_of_frozen_image_features(toy_world, tmp_path, version):
    # without random augmentation one pass over the loader is deterministic up to order
    trainer = run(toy_argv(toy_world, "UCPCoOp", "UCPCoOp/toy_vit_s.yaml", tmp_path / "vis", *fast(tmp_path),
                           "DATASET.SUBSAMPLE_CLASSES", "base", "TRAINER.UCP.VERSION", str(version),
                           "INPUT.TRANSFORMS", "['normalize']", flags=["--no-train"]))
    dataset = trainer.train_loader_x.dataset  # every image, also those a drop_last batch would skip
    with torch.no_grad():
        images = torch.stack([d["img"] for d in dataset]).to(trainer.device)
        feats = trainer.model.clip.encode_image(images).float().cpu()
    labels = torch.tensor([d["label"] for d in dataset])
    assert len(labels) == 10
    if version == 2:
        expected = feats.mean(0, keepdim=True)
    else:
        expected = torch.stack([feats[labels == y].mean(0) for y in range(5)])
    cond = trainer.model.prompt_learner.ucp.class_tokens
    assert torch.allclose(cond.float().cpu(), expected, atol=1e-5)
    # the margin still uses the TCI similarity, not the visual condition
    names = trainer.dm.dataset.classnames
    tci = extract_tci(trainer.model.clip, names, get_templates("FashionMNIST").zero_shot)
    assert torch.allclose(trainer.plugin.margin_loss.similarity, class_similarity(tci), atol=1e-6)
