"""KgCoOp: config defaults, prompt learner, and a base -> new run through ``train.main`` on the toy world."""

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
    assert torch.allclose(net.anchors.norm(dim=-1).cpu(), torch.ones(5), atol=1e-4)
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
