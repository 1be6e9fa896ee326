"""KgCoOp: config defaults, prompt learner, and a base -> new run through ``train.main`` on the toy world."""

import copy

import pytest
import torch
from vl_toy import results, run, toy_argv

from dassl.config import extend_cfg, get_cfg_default

FAST = ["DATASET.NUM_SHOTS", "2", "OPTIM.MAX_EPOCH", "1", "TRAIN.COLLECT_ENV_INFO", "False"]


def test_kgcoop_config_defaults():
    import trainers.kgcoop  # noqa: F401

    cfg = extend_cfg(get_cfg_default())
    node = cfg.TRAINER.KGCOOP
    assert (node.N_CTX, node.CSC, node.CTX_INIT, node.CLASS_TOKEN_POSITION, node.W) == (
        4, False, "a photo of a", "end", 1.5)
    assert cfg.TRAINER.PREC == "fp16" and list(cfg.TRAINER.NAMES_TO_UPDATE) == ["learnable_params"]


def test_knowledge_gap_is_one_minus_mean_cosine():
    from trainers.kgcoop import knowledge_gap

    t = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    anchors = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    assert knowledge_gap(t, anchors).item() == pytest.approx(1 - (1 + 0) / 2)


@pytest.mark.slow
def test_kgcoop_trains_on_base_and_evaluates_on_new(toy_world, tmp_path):
    out = tmp_path / "train_base"
    trainer = run(toy_argv(toy_world, "KgCoOp", "KgCoOp/toy_vit_s.yaml", out, *FAST,
                           "DATASET.SUBSAMPLE_CLASSES", "base"))
    net = trainer.model
    trainable = {n for n, p in net.learnable_params.named_parameters() if p.requires_grad}
    assert trainable == {"prompt_learner.ctx"}
    state = torch.load(out / "learnable_params" / "model.pth.tar-1", map_location="cpu", weights_only=False)
    keys = set(state["state_dict"])
    assert {"prompt_learner.ctx", "prompt_learner.token_prefix", "prompt_learner.bias_vectors",
            "prompt_learner.meta_net.linear1.weight"} <= keys
    assert not any(k.startswith("clip.") for k in keys)
    assert net.anchors.shape[0] == 5
    assert net.anchors.dtype == torch.float16  # encoded by a half-precision copy, as the reference does
    assert torch.allclose(net.anchors.float().norm(dim=-1).cpu(), torch.ones(5), atol=1e-3)
    assert results(out)["total"] == 5 * 6
    log = (out / "log.txt").read_text()
    assert "loss_kg" in log and "Parameters to be updated:" in log

    new_out = tmp_path / "test_new"
    tester = run(toy_argv(toy_world, "KgCoOp", "KgCoOp/toy_vit_s.yaml", new_out, *FAST,
                          "DATASET.SUBSAMPLE_CLASSES", "new", "DATALOADER.TEST.BATCH_SIZE", "10",
                          flags=["--model-dir", str(out), "--load-epoch", "-1", "--eval-only"]))
    assert tester.dm.dataset.classnames == ["sandal", "shirt", "sneaker", "bag", "ankle boot"]
    assert torch.equal(tester.model.prompt_learner.ctx.cpu(), state["state_dict"]["prompt_learner.ctx"])
    assert tester.model.prompt_learner.token_prefix.shape[0] == 5
    assert "a photo of a sandal." in (new_out / "log.txt").read_text()  # anchors rebuilt for new names
    assert "Delete key prompt_learner.token_prefix" in (new_out / "log.txt").read_text()
    assert results(new_out)["total"] == 5 * 6

    # class text features are encoded once per evaluation, not once per test batch (3 batches here)
    calls = []
    encode = tester.model.text_features
    tester.model.text_features = lambda: calls.append(1) or encode()
    tester.test()
    assert len(calls) == 1 and len(tester.test_loader) == 3
    tester.set_model_mode("train")
    assert tester.model.training and not tester.model.clip.training


def test_coop_w_selects_the_kgcoop_repository_layout():
    from trainers.kgcoop import kgcoop_node, uses_coop_layout

    cfg = extend_cfg(get_cfg_default())
    assert cfg.TRAINER.COOP.W is None and not uses_coop_layout(cfg)
    key, node = kgcoop_node(cfg)
    assert node is cfg.TRAINER.KGCOOP and key == "TRAINER.KGCOOP"
    cfg.merge_from_list(["TRAINER.COOP.W", "8.0", "TRAINER.COOP.N_CTX", "4"])
    key, node = kgcoop_node(cfg)
    assert uses_coop_layout(cfg) and key == "TRAINER.COOP"
    assert (node.W, node.N_CTX, node.PREC) == (8.0, 4, "fp16")


def test_kgcoop_anchors_are_half_precision_unit_rows_of_the_template():
    from clip.class_text import encode_class_texts
    from clip.model import CLIP, convert_weights
    from trainers.kgcoop import kgcoop_anchors

    torch.manual_seed(0)
    model = CLIP(32, 32, 1, 64, 8, 16, 49408, 64, 1, 1).eval()
    anchors = kgcoop_anchors(model, ["shirt", "bag"], "a photo of a {}.")
    assert anchors.dtype == torch.float16 and model.dtype == torch.float32  # the model itself is untouched
    half_model = convert_weights(copy.deepcopy(model), torch.float16)
    half = encode_class_texts(half_model, "a photo of a {}.", ["shirt", "bag"])
    full = encode_class_texts(model, "a photo of a {}.", ["shirt", "bag"])
    assert torch.allclose(anchors.float(), half, atol=2e-3)
    assert not torch.equal(half, full)  # encoded in fp16, not in the model's fp32
    assert torch.equal(kgcoop_anchors(half_model, ["shirt", "bag"], "a photo of a {}."), anchors)


@pytest.mark.slow
def test_kgcoop_repository_layout_trains_and_checkpoints_the_prompt_learner(toy_world, tmp_path):
    """The original scripts' options: W only when training; the config file's own W marks the layout."""
    options = ["TRAINER.COOP.N_CTX", "4", "TRAINER.COOP.CSC", "False",
               "TRAINER.COOP.CLASS_TOKEN_POSITION", "end"]
    out = tmp_path / "train_base"
    trainer = run(toy_argv(toy_world, "KgCoOp", "KgCoOp/toy_vit_s_original.yaml", out, *FAST, *options,
                           "TRAINER.COOP.W", "8.0", "DATASET.SUBSAMPLE_CLASSES", "base"))
    assert trainer.precision_key == "TRAINER.COOP.PREC" and trainer.cfg.TRAINER.COOP.W == 8.0
    assert not (out / "learnable_params").exists()
    state = torch.load(out / "prompt_learner" / "model.pth.tar-1", map_location="cpu", weights_only=False)
    assert set(state["state_dict"]) == {"ctx", "token_prefix", "token_suffix", "bias_vectors",
                                        "meta_net.linear1.weight", "meta_net.linear1.bias"}
    assert state["state_dict"]["ctx"].shape[0] == 4
    assert state["state_dict"]["meta_net.linear1.weight"].shape == (512, 512)

    new_out = tmp_path / "test_new"
    tester = run(toy_argv(toy_world, "KgCoOp", "KgCoOp/toy_vit_s_original.yaml", new_out, *FAST, *options,
                          "DATASET.SUBSAMPLE_CLASSES", "new",
                          flags=["--model-dir", str(out), "--load-epoch", "1", "--eval-only"]))
    assert torch.equal(tester.model.prompt_learner.ctx.cpu(), state["state_dict"]["ctx"])
    assert results(new_out)["total"] == 5 * 6


def test_the_capt_variant_refuses_the_kgcoop_repository_layout(toy_world, tmp_path):
    """UCPKgCoOp's meta-net lives in learnable_params/, which the prompt_learner/ layout would not save."""
    with pytest.raises(ValueError, match="TRAINER.COOP.W = 8.0 .*UCPKgCoOp.*TRAINER.KGCOOP.W"):
        run(toy_argv(toy_world, "UCPKgCoOp", "UCPKgCoOp/toy_vit_s.yaml", tmp_path / "out", *FAST,
                     "TRAINER.COOP.W", "8.0", "DATASET.SUBSAMPLE_CLASSES", "base"))
    assert not (tmp_path / "out" / "prompt_learner").exists()


def test_kgcoop_dept_refuses_the_kgcoop_repository_layout(toy_world, tmp_path):
    with pytest.raises(ValueError, match="TRAINER.COOP.W = 8.0 .*KgCoOpDePT.*TRAINER.KGCOOP.W"):
        run(toy_argv(toy_world, "KgCoOpDePT", "KgCoOpDePT/toy_vit_s.yaml", tmp_path / "out", *FAST,
                     "TRAINER.COOP.W", "8.0", "DATASET.SUBSAMPLE_CLASSES", "base"))
