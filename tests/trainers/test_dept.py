"""DePT pieces: FiLM, the staged learning rates, and the head's presence per class list."""

import pytest
import torch
from torch import nn

from dassl.config import get_cfg_default
from dassl.optim import build_lr_scheduler, build_optimizer
from trainers.dept import FiLM, has_head, keep_source_rows, staged_param_groups


def test_film_is_scale_times_x_plus_bias():
    film = FiLM(3)
    x = torch.randn(2, 3)
    assert torch.equal(film(x), x)
    with torch.no_grad():
        film.scale.copy_(torch.tensor([1.0, 2.0, 3.0]))
        film.bias.copy_(torch.tensor([0.5, 0.0, -1.0]))
    assert torch.allclose(film(x), x * torch.tensor([1.0, 2.0, 3.0]) + torch.tensor([0.5, 0.0, -1.0]))


def _learnable():
    params = nn.ModuleDict()
    learner = nn.Module()
    learner.ctx = nn.Parameter(torch.zeros(4, 8))
    learner.ucp = nn.Linear(8, 8)
    params["prompt_learner"] = learner
    params["film_img"] = FiLM(8)
    params["film_text"] = FiLM(8)
    params["classifier"] = nn.Linear(8, 5)
    return params


def test_staged_groups_send_classifier_and_film_to_the_new_rate():
    params = _learnable()
    groups, base, new = staged_param_groups(params.named_parameters(), 0.0035, 18.0)
    assert base == ["prompt_learner.ctx", "prompt_learner.ucp.weight", "prompt_learner.ucp.bias"]
    assert set(new) == {"film_img.scale", "film_img.bias", "film_text.scale", "film_text.bias",
                        "classifier.weight", "classifier.bias"}
    assert groups[0]["lr"] == pytest.approx(0.0035) and groups[1]["lr"] == pytest.approx(0.063)
    ids = {id(p) for p in groups[1]["params"]}
    assert id(params["classifier"].weight) in ids and id(params["prompt_learner"].ctx) not in ids


def test_staged_rates_survive_warmup_and_cosine():
    cfg = get_cfg_default()
    cfg.OPTIM.NAME, cfg.OPTIM.LR, cfg.OPTIM.MAX_EPOCH = "sgd", 0.0035, 10
    cfg.OPTIM.LR_SCHEDULER, cfg.OPTIM.WARMUP_EPOCH, cfg.OPTIM.WARMUP_TYPE = "cosine", 1, "constant"
    cfg.OPTIM.WARMUP_CONS_LR = 1e-5
    params = _learnable()
    groups, _, _ = staged_param_groups(params.named_parameters(), 0.0035, 6.5)
    optim = build_optimizer(list(params.parameters()), cfg.OPTIM, param_groups=groups)
    sched = build_lr_scheduler(optim, cfg.OPTIM)
    assert [g["lr"] for g in optim.param_groups] == pytest.approx([1e-5, 1e-5])  # warm-up: both groups
    optim.step()
    sched.step()
    assert [g["lr"] for g in optim.param_groups] == pytest.approx([0.0035, 0.02275])


def test_head_of_a_larger_source_keeps_the_rows_of_present_classes():
    source = nn.Linear(4, 5)
    params = nn.ModuleDict({"classifier": nn.Linear(4, 3)})
    keep_source_rows(params["classifier"], [4, 0, 2])
    params.load_state_dict({"classifier.weight": source.weight, "classifier.bias": source.bias})
    assert torch.equal(params["classifier"].weight, source.weight[[4, 0, 2]])
    assert torch.equal(params["classifier"].bias, source.bias[[4, 0, 2]])


def test_head_only_for_base_or_imagenet_source():
    assert has_head("base", "DescribableTextures")
    assert not has_head("new", "DescribableTextures")
    assert not has_head("all", "DescribableTextures")
    assert has_head("all", "ImageNet")


@pytest.mark.slow
def test_kgcoop_dept_trains_with_head_and_evaluates_new_without_it(toy_world, tmp_path):
    from vl_toy import results, run, toy_argv

    fast = ["DATASET.NUM_SHOTS", "2", "OPTIM.MAX_EPOCH", "1", "TRAIN.COLLECT_ENV_INFO", "False"]
    out = tmp_path / "train_base"
    trainer = run(toy_argv(toy_world, "KgCoOpDePT", "KgCoOpDePT/toy_vit_s.yaml", out, *fast,
                           "DATASET.SUBSAMPLE_CLASSES", "base", "OPTIM.WARMUP_EPOCH", "0"))
    groups = trainer.optim.param_groups
    lr = trainer.cfg.OPTIM.LR
    assert len(groups) == 2 and groups[0]["initial_lr"] == pytest.approx(lr)
    assert groups[1]["initial_lr"] == pytest.approx(lr * 6.5)
    net = trainer.model
    new_ids = {id(p) for p in groups[1]["params"]}
    assert new_ids == {id(p) for name in ("classifier", "film_img", "film_text")
                       for p in net.learnable_params[name].parameters()}
    assert {id(p) for p in groups[0]["params"]} == {id(net.prompt_learner.ctx)}
    state = torch.load(out / "learnable_params" / "model.pth.tar-1", map_location="cpu",
                       weights_only=False)["state_dict"]
    assert state["classifier.weight"].shape == (5, 64) and "film_img.scale" in state
    assert results(out)["total"] == 5 * 6
    # base inference fuses the head: it differs from the plain image-text logits
    image = torch.randn(3, 3, 32, 32, device=trainer.device)
    net.eval()
    with torch.no_grad():
        fused = net(image)
        itm = net.similarity_logits(net.image_features(image), net.text_features())
    assert not torch.allclose(fused, itm)

    new_out = tmp_path / "test_new"
    tester = run(toy_argv(toy_world, "KgCoOpDePT", "KgCoOpDePT/toy_vit_s.yaml", new_out, *fast,
                          "DATASET.SUBSAMPLE_CLASSES", "new",
                          flags=["--model-dir", str(out), "--load-epoch", "-1", "--eval-only"]))
    assert tester.model.head is None and "classifier" not in tester.model.learnable_params
    assert torch.equal(tester.model.learnable_params["film_img"].scale.cpu(), state["film_img.scale"])
    with torch.no_grad():
        tester.model.eval()
        out_new = tester.model(image)
        net_new = tester.model
        itm_new = net_new.similarity_logits(net_new.image_features(image), net_new.text_features())
    assert torch.allclose(out_new, itm_new)
    assert results(new_out)["total"] == 5 * 6
