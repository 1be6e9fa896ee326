"""IVLP: config keys, trainable parameters, and a base -> new run through ``train.main`` on the toy world."""

import pytest
import torch
from vl_toy import results, run, toy_argv, trainable_names


def test_ivlp_config_keys_have_upstream_defaults():
    import trainers.ivlp  # noqa: F401
    from dassl.config import extend_cfg, get_cfg_default

    cfg = extend_cfg(get_cfg_default())
    node = cfg.TRAINER.IVLP
    assert (node.N_CTX_VISION, node.N_CTX_TEXT, node.CTX_INIT, node.PREC) == (2, 2, "a photo of a", "fp16")
    assert (node.PROMPT_DEPTH_VISION, node.PROMPT_DEPTH_TEXT) == (9, 9)


@pytest.mark.slow
def test_ivlp_trains_on_base_and_evaluates_on_new(toy_world, tmp_path):
    out = tmp_path / "train_base"
    trainer = run(
        toy_argv(
            toy_world,
            "IVLP",
            "IVLP/toy_vit_s.yaml",
            out,
            "DATASET.NUM_SHOTS",
            "4",
            "DATASET.SUBSAMPLE_CLASSES",
            "base",
            "OPTIM.MAX_EPOCH",
            "2",
        )
    )
    assert type(trainer).data_wiring == "fork"
    assert trainable_names(trainer) == {
        "prompt_learner.ctx",
        "vision_prompts.shallow",
        "vision_prompts.deep.0",
        "text_prompts.deep.0",
    }
    ckpt = torch.load(out / "VLPromptLearner" / "model.pth.tar-2", map_location="cpu", weights_only=False)
    state = ckpt["state_dict"]
    assert {"prompt_learner.ctx", "vision_prompts.shallow", "text_prompts.deep.0", "logit_scale"} <= set(
        state
    )
    assert state["prompt_learner.token_prefix"].shape[0] == 5  # base classes only
    base = results(out)
    assert base["split"] == "test" and 0.0 <= base["accuracy"] <= 100.0 and base["total"] == 5 * 6
    assert "* accuracy:" in (out / "log.txt").read_text()

    fresh = run(
        toy_argv(
            toy_world,
            "IVLP",
            "IVLP/toy_vit_s.yaml",
            tmp_path / "init",
            "DATASET.NUM_SHOTS",
            "4",
            "DATASET.SUBSAMPLE_CLASSES",
            "base",
            flags=["--no-train"],
        )
    )
    assert not torch.allclose(fresh.model.prompt_learner.ctx.cpu(), state["prompt_learner.ctx"])  # it learned

    new_out = tmp_path / "test_new"
    tester = run(
        toy_argv(
            toy_world,
            "IVLP",
            "IVLP/toy_vit_s.yaml",
            new_out,
            "DATASET.NUM_SHOTS",
            "4",
            "DATASET.SUBSAMPLE_CLASSES",
            "new",
            flags=["--model-dir", str(out), "--load-epoch", "2", "--eval-only"],
        )
    )
    assert tester.dm.dataset.classnames == ["sandal", "shirt", "sneaker", "bag", "ankle boot"]
    assert torch.equal(tester.model.prompt_learner.ctx.cpu(), state["prompt_learner.ctx"])
    assert torch.equal(tester.model.vision_prompts.deep[0].cpu(), state["vision_prompts.deep.0"])
    new = results(new_out)
    assert new["split"] == "test" and new["total"] == 5 * 6
