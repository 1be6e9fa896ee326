"""CoOp: config node, loss on hand-computed logits, frozen parts, eval caching, base -> new on toy data."""

import json
from pathlib import Path

import pytest
import torch

from clip import build_model, tokenize
from clip.testing import make_random_state_dict
from dassl.config import extend_cfg, get_cfg_default
from trainers.common.base import freeze_all_but, trainable_parameters
from trainers.common.coop_prompt import CoOpPromptLearner
from trainers.coop import CoOp, CoOpNetwork

REPO = Path(__file__).resolve().parents[2]
NAMES = ["sandal", "shirt", "sneaker"]


@pytest.fixture(scope="module")
def tiny_clip():
    sd = make_random_state_dict("vit", seed=5, embed_dim=32, image_resolution=32, vision_layers=1,
                                vision_width=64, patch_size=8, text_width=64, text_layers=1)
    return build_model(sd).eval()


def network(tiny_clip, **kwargs):
    torch.manual_seed(0)
    return CoOpNetwork(tiny_clip, CoOpPromptLearner(NAMES, tiny_clip, **kwargs))


def test_coop_config_defaults():
    node = extend_cfg(get_cfg_default()).TRAINER.COOP
    assert (node.N_CTX, node.CSC, node.CTX_INIT, node.PREC, node.CLASS_TOKEN_POSITION) == (
        16, False, "", "fp16", "end")


def test_loss_and_accuracy_on_hand_computed_logits(tiny_clip):
    net = network(tiny_clip, n_ctx=4)
    learner = net.prompt_learner
    images = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    label = torch.tensor([0, 2, 1, 1])
    with torch.no_grad():
        f = tiny_clip.encode_image(images)
        ctx = learner.ctx.expand(3, -1, -1)
        prompts = torch.cat([learner.token_prefix, ctx, learner.token_suffix], dim=1)
        eot = tokenize([f"X X X X {n}." for n in NAMES]).argmax(-1)
        t = tiny_clip.encode_text_embeddings(prompts, eot)
        logits = tiny_clip.logit_scale.exp() * (f / f.norm(dim=-1, keepdim=True)) @ (
            t / t.norm(dim=-1, keepdim=True)).t()
    ce = (torch.logsumexp(logits, dim=1) - logits[torch.arange(4), label]).mean()
    trainer = CoOp.__new__(CoOp)  # compute_loss only needs the network
    trainer.model = net
    losses, metrics = trainer.compute_loss(images, label)
    assert set(losses) == {"loss"} and set(metrics) == {"acc"}
    assert losses["loss"].item() == pytest.approx(ce.item(), rel=1e-5)
    assert metrics["acc"] == pytest.approx(100.0 * (logits.argmax(1) == label).float().mean().item())
    losses["loss"].backward()
    assert learner.ctx.grad is not None and learner.ctx.grad.abs().sum() > 0


def test_only_the_context_is_trained_and_clip_stays_in_eval(tiny_clip):
    net = network(tiny_clip, n_ctx=2, csc=True)
    freeze_all_but(net, trainable_parameters(net))
    assert {n for n, p in net.named_parameters() if p.requires_grad} == {"prompt_learner.ctx"}
    net.train()
    assert net.training and net.prompt_learner.training and not net.clip.training


def test_text_features_encoded_once_per_evaluation(tiny_clip):
    net = network(tiny_clip, ctx_init="a photo of a")
    calls = []
    encode = net.text_features
    net.text_features = lambda: calls.append(1) or encode()
    images = torch.randn(2, 3, 32, 32)
    net.eval()
    with torch.no_grad():
        first, second = net(images), net(images)
    assert len(calls) == 1 and torch.equal(first, second)
    net.train()
    net(images)
    net(images)
    assert len(calls) == 3  # training always re-encodes


# ---------------------------------------------------------------------------------------- toy world runs
def argv(toy_world, out, *opts, flags=(), config="CoOp/toy_vit_s.yaml"):
    return ["--root", str(toy_world.root), "--seed", "1", "--trainer", "CoOp", *flags,
            "--dataset-config-file", str(REPO / "configs/datasets/fashion_mnist.yaml"),
            "--config-file", str(REPO / "configs/trainers" / config), "--output-dir", str(out),
            "DATALOADER.NUM_WORKERS", "0", "DATALOADER.TEST.BATCH_SIZE", "10", "DATASET.NUM_SHOTS", "2",
            "OPTIM.MAX_EPOCH", "1", "TRAIN.COLLECT_ENV_INFO", "False",
            "MODEL.CLIP_WEIGHTS_DIR", str(toy_world.weights_dir), *opts]


def run(args):
    import train

    return train.main(args)


def results(folder):
    return json.loads((Path(folder) / "results.json").read_text())


@pytest.mark.slow
def test_coop_trains_on_base_and_evaluates_on_new(toy_world, tmp_path, logged_trainable):
    out = tmp_path / "train_base"
    trainer = run(argv(toy_world, out, "DATASET.SUBSAMPLE_CLASSES", "base"))
    base_names = trainer.dm.dataset.classnames
    assert len(base_names) == 5 and trainer.model.prompt_learner.n_cls == 5
    state = torch.load(out / "prompt_learner" / "model.pth.tar-1", map_location="cpu", weights_only=False)
    assert set(state["state_dict"]) == {"ctx", "token_prefix", "token_suffix"}
    assert state["state_dict"]["ctx"].shape == (4, trainer.model.prompt_learner.ctx_dim)  # "a photo of a"
    log = (out / "log.txt").read_text()
    assert 'Initial context: "a photo of a"' in log and "acc" in log and "Finish training" in log
    assert logged_trainable(log) == ["prompt_learner.ctx"] and "Trainable parameters: " in log
    base = results(out)
    assert base["subsample_classes"] == "base" and base["trainer"] == "CoOp" and base["total"] == 5 * 6

    new_out = tmp_path / "test_new"
    tester = run(argv(toy_world, new_out, "DATASET.SUBSAMPLE_CLASSES", "new",
                      flags=["--model-dir", str(out), "--load-epoch", "1", "--eval-only"]))
    assert tester.dm.dataset.classnames == ["sandal", "shirt", "sneaker", "bag", "ankle boot"]
    assert not set(base_names) & set(tester.dm.dataset.classnames)
    assert torch.equal(tester.model.prompt_learner.ctx.cpu(), state["state_dict"]["ctx"])
    suffix = tester.model.prompt_learner.token_suffix.cpu()
    assert not torch.equal(suffix, state["state_dict"]["token_suffix"])
    new_log = (new_out / "log.txt").read_text()
    assert "Delete key token_prefix" in new_log and "Delete key token_suffix" in new_log
    new = results(new_out)
    assert new["subsample_classes"] == "new" and new["total"] == 5 * 6

    calls = []
    encode = tester.model.text_features
    tester.model.text_features = lambda: calls.append(1) or encode()
    tester.test()
    assert len(calls) == 1 and len(tester.test_loader) == 3


@pytest.mark.slow
def test_class_specific_context_refuses_new_classes(toy_world, tmp_path):
    out = tmp_path / "csc"
    run(argv(toy_world, out, "DATASET.SUBSAMPLE_CLASSES", "base", "TRAINER.COOP.CTX_INIT", "",
             "TRAINER.COOP.N_CTX", "2", "TRAINER.COOP.CSC", "True",
             "TRAINER.COOP.CLASS_TOKEN_POSITION", "middle"))
    state = torch.load(out / "prompt_learner" / "model.pth.tar-1", map_location="cpu", weights_only=False)
    assert state["state_dict"]["ctx"].shape[:2] == (5, 2)
    with pytest.raises(ValueError, match="CSC"):
        run(argv(toy_world, tmp_path / "csc_new", "DATASET.SUBSAMPLE_CLASSES", "new",
                 "TRAINER.COOP.CTX_INIT", "", "TRAINER.COOP.CSC", "True",
                 flags=["--model-dir", str(out), "--load-epoch", "1", "--eval-only"]))


# (batch, lr, epochs, print freq, backbone, N_CTX, CTX_INIT) of the published configs
PUBLISHED = {
    "CoOp/rn50": (32, 0.002, 200, 5, "RN50", 16, ""),
    "CoOp/rn50_ep50_ctxv1": (32, 0.002, 50, 5, "RN50", 16, "a photo of a"),
    "CoOp/vit_b16": (32, 0.002, 200, 5, "ViT-B/16", 16, ""),
    "CoOp/vit_b16_ep50": (32, 0.002, 50, 5, "ViT-B/16", 16, ""),
    "CoOp/vit_b16_ep100": (32, 0.002, 100, 5, "ViT-B/16", 16, ""),
    "CoOp/vit_b16_ctxv1": (32, 0.002, 200, 5, "ViT-B/16", 16, "a photo of a"),
    "CoOp/vit_b16_ep50_ctxv1": (32, 0.002, 50, 5, "ViT-B/16", 16, "a photo of a"),
    "CoOp/vit_b16_ep10_ctx_batch4": (4, 0.0035, 10, 5, "ViT-B/16", 4, "a photo of a"),
    "CoOp/vit_b16_ep10_bs4_lr35": (4, 0.0035, 10, 20, "ViT-B/16", 16, ""),
    "CoCoOp/vit_b16_c4_ep10_batch1_ctxv1": (1, 0.002, 10, 20, "ViT-B/16", 4, "a photo of a"),
    "CoCoOp/vit_b16_c16_ep10_batch1": (1, 0.002, 10, 20, "ViT-B/16", 16, ""),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_shipped_configs_keep_the_published_values(name):
    from dassl.config import merge_cfg_from_file

    cfg = extend_cfg(get_cfg_default())
    merge_cfg_from_file(cfg, str(REPO / "configs/trainers" / f"{name}.yaml"))
    node = cfg.TRAINER.COOP if name.startswith("CoOp/") else cfg.TRAINER.COCOOP
    got = (cfg.DATALOADER.TRAIN_X.BATCH_SIZE, cfg.OPTIM.LR, cfg.OPTIM.MAX_EPOCH, cfg.TRAIN.PRINT_FREQ,
           cfg.MODEL.BACKBONE.NAME, node.N_CTX, node.CTX_INIT)
    assert got == PUBLISHED[name]
    assert (cfg.OPTIM.NAME, cfg.OPTIM.LR_SCHEDULER, cfg.OPTIM.WARMUP_EPOCH, cfg.OPTIM.WARMUP_TYPE) == (
        "sgd", "cosine", 1, "constant")
    assert cfg.INPUT.INTERPOLATION == "bicubic" and cfg.DATALOADER.TEST.BATCH_SIZE == 100


def test_every_coop_family_config_loads():
    from dassl.config import merge_cfg_from_file

    files = sorted((REPO / "configs/trainers/CoOp").glob("*.yaml")) + sorted(
        (REPO / "configs/trainers/CoCoOp").glob("*.yaml"))
    assert len(files) >= 20
    for path in files:
        cfg = extend_cfg(get_cfg_default())
        merge_cfg_from_file(cfg, str(path))
        assert path.read_text().startswith("# Trainer: Co"), path


def test_optimising_the_context_lowers_the_loss(tiny_clip):
    net = network(tiny_clip, n_ctx=4)
    freeze_all_but(net, trainable_parameters(net))
    images = torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    label = torch.tensor([0, 1, 2, 0, 1, 2])
    optim = torch.optim.Adam(net.trainable_params(), lr=0.05)
    losses = []
    for _ in range(15):
        loss = torch.nn.functional.cross_entropy(net(images), label)
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.05  # a frozen or detached context would leave it flat
