"""CoCoOp: meta-net layout, per-image prompts and loss by hand, trainable parts, base -> new on toy data."""

import json
from pathlib import Path

import pytest
import torch

from clip import build_model, tokenize
from clip.testing import make_random_state_dict
from dassl.config import extend_cfg, get_cfg_default
from trainers.cocoop import CoCoOp, CoCoOpNetwork, CoCoOpPromptLearner
from trainers.common.base import freeze_all_but, trainable_parameters

REPO = Path(__file__).resolve().parents[2]
NAMES = ["sandal", "shirt", "sneaker"]


@pytest.fixture(scope="module")
def tiny_clip():
    sd = make_random_state_dict("vit", seed=7, embed_dim=64, image_resolution=32, vision_layers=1,
                                vision_width=64, patch_size=8, text_width=64, text_layers=1)
    return build_model(sd).eval()


def network(tiny_clip, **kwargs):
    torch.manual_seed(0)
    return CoCoOpNetwork(tiny_clip, CoCoOpPromptLearner(NAMES, tiny_clip, **kwargs), eval_text_sequences=6)


def test_cocoop_config_defaults():
    node = extend_cfg(get_cfg_default()).TRAINER.COCOOP
    assert (node.N_CTX, node.CTX_INIT, node.PREC) == (16, "", "fp16")


def test_meta_net_layout_and_checkpoint_keys(tiny_clip):
    learner = network(tiny_clip, ctx_init="a photo of a").prompt_learner
    net = learner.meta_net
    assert [name for name, _ in net.named_children()] == ["linear1", "relu", "linear2"]
    assert (net.linear1.in_features, net.linear1.out_features) == (64, 4)  # D -> D // 16
    assert (net.linear2.in_features, net.linear2.out_features) == (4, 64)  # -> text width
    assert set(learner.state_dict()) == {
        "ctx", "token_prefix", "token_suffix", "meta_net.linear1.weight", "meta_net.linear1.bias",
        "meta_net.linear2.weight", "meta_net.linear2.bias"}
    assert learner.n_ctx == 4


def test_per_image_logits_and_loss_by_hand(tiny_clip):
    net = network(tiny_clip, n_ctx=2)
    learner = net.prompt_learner
    images = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    label = torch.tensor([2, 0, 1])
    w1, b1 = learner.meta_net.linear1.weight, learner.meta_net.linear1.bias
    w2, b2 = learner.meta_net.linear2.weight, learner.meta_net.linear2.bias
    eot = tokenize([f"X X {n}." for n in NAMES]).argmax(-1)
    rows = []
    with torch.no_grad():
        f = tiny_clip.encode_image(images)
        f = f / f.norm(dim=-1, keepdim=True)
        pi = torch.relu(f @ w1.t() + b1) @ w2.t() + b2
        for i in range(3):
            ctx = (learner.ctx + pi[i]).expand(3, -1, -1)
            prompts = torch.cat([learner.token_prefix, ctx, learner.token_suffix], dim=1)
            t = tiny_clip.encode_text_embeddings(prompts, eot)
            rows.append(tiny_clip.logit_scale.exp() * f[i] @ (t / t.norm(dim=-1, keepdim=True)).t())
    logits = torch.stack(rows)
    ce = (torch.logsumexp(logits, dim=1) - logits[torch.arange(3), label]).mean()
    trainer = CoCoOp.__new__(CoCoOp)
    trainer.model = net
    net.train()
    losses, metrics = trainer.compute_loss(images, label)
    assert set(losses) == {"loss"} and metrics == {}
    assert losses["loss"].item() == pytest.approx(ce.item(), rel=1e-5)
    losses["loss"].backward()
    assert learner.ctx.grad.abs().sum() > 0 and w1.grad.abs().sum() > 0
    # evaluation groups images into fewer text passes and gives the same logits
    net.eval()
    with torch.no_grad():
        assert torch.allclose(net(images), logits, atol=1e-4)


def test_trainable_parameters_are_the_prompt_learner(tiny_clip):
    net = network(tiny_clip, n_ctx=4)
    freeze_all_but(net, trainable_parameters(net))
    trained = {n for n, p in net.named_parameters() if p.requires_grad}
    assert trained == {"prompt_learner.ctx", "prompt_learner.meta_net.linear1.weight",
                       "prompt_learner.meta_net.linear1.bias", "prompt_learner.meta_net.linear2.weight",
                       "prompt_learner.meta_net.linear2.bias"}
    net.train()
    assert not net.clip.training


def argv(toy_world, out, *opts, flags=()):
    return ["--root", str(toy_world.root), "--seed", "1", "--trainer", "CoCoOp", *flags,
            "--dataset-config-file", str(REPO / "configs/datasets/fashion_mnist.yaml"),
            "--config-file", str(REPO / "configs/trainers/CoCoOp/toy_vit_s.yaml"), "--output-dir", str(out),
            "DATALOADER.NUM_WORKERS", "0", "DATALOADER.TEST.BATCH_SIZE", "10", "DATASET.NUM_SHOTS", "2",
            "OPTIM.MAX_EPOCH", "1", "TRAIN.COLLECT_ENV_INFO", "False",
            "MODEL.CLIP_WEIGHTS_DIR", str(toy_world.weights_dir), *opts]


@pytest.mark.slow
def test_cocoop_trains_on_base_and_evaluates_on_new(toy_world, tmp_path):
    import train

    out = tmp_path / "train_base"
    trainer = train.main(argv(toy_world, out, "DATASET.SUBSAMPLE_CLASSES", "base"))
    assert trainer.model.prompt_learner.n_cls == 5
    state = torch.load(out / "prompt_learner" / "model.pth.tar-1", map_location="cpu", weights_only=False)
    assert "meta_net.linear2.weight" in state["state_dict"] and "ctx" in state["state_dict"]
    assert not any(k.startswith("clip.") for k in state["state_dict"])
    base = json.loads((out / "results.json").read_text())
    assert base["subsample_classes"] == "base" and base["total"] == 5 * 6

    new_out = tmp_path / "test_new"
    tester = train.main(argv(toy_world, new_out, "DATASET.SUBSAMPLE_CLASSES", "new",
                             flags=["--model-dir", str(out), "--load-epoch", "1", "--eval-only"]))
    assert tester.dm.dataset.classnames == ["sandal", "shirt", "sneaker", "bag", "ankle boot"]
    loaded = tester.model.prompt_learner
    assert torch.equal(loaded.meta_net.linear2.weight.cpu(), state["state_dict"]["meta_net.linear2.weight"])
    assert torch.equal(loaded.ctx.cpu(), state["state_dict"]["ctx"])
    assert "Delete key token_prefix" in (new_out / "log.txt").read_text()
    new = json.loads((new_out / "results.json").read_text())
    assert new["subsample_classes"] == "new" and new["total"] == 5 * 6
