"""PromptSRC: config keys, frozen targets, GPA, and a base -> new run through ``train.main``."""

import pytest
import torch
from vl_toy import results, run, toy_argv, trainable_names


def test_promptsrc_config_keys_have_upstream_defaults():
    import trainers.promptsrc  # noqa: F401
    from dassl.config import extend_cfg, get_cfg_default

    node = extend_cfg(get_cfg_default()).TRAINER.PROMPTSRC
    assert (node.N_CTX_VISION, node.N_CTX_TEXT, node.PROMPT_DEPTH_VISION, node.PROMPT_DEPTH_TEXT) == (
        4,
        4,
        9,
        9,
    )
    assert (node.TEXT_LOSS_WEIGHT, node.IMAGE_LOSS_WEIGHT, node.GPA_MEAN, node.GPA_STD) == (25, 10, 15, 1)


def test_template_ensemble_is_the_unnormalised_mean_over_templates():
    from clip import build_model, tokenize
    from clip.testing import make_random_state_dict
    from trainers.promptsrc import template_ensemble_features

    clip_model = build_model(make_random_state_dict("vit", seed=2, vision_layers=1, text_layers=1))
    templates = ("a photo of a {}.", "art of the {}.")
    feats = template_ensemble_features(clip_model, ["cat", "sea_lion"], templates)
    with torch.no_grad():
        per = [
            clip_model.encode_text(tokenize([t.format(c) for c in ("cat", "sea lion")])) for t in templates
        ]
    assert torch.allclose(feats, (per[0] + per[1]) / 2, atol=1e-6)


@pytest.mark.slow
def test_promptsrc_base_to_new_with_gpa(toy_world, tmp_path):
    out = tmp_path / "train_base"
    opts = [
        "DATASET.NUM_SHOTS",
        "4",
        "DATASET.SUBSAMPLE_CLASSES",
        "base",
        "OPTIM.MAX_EPOCH",
        "2",
        "TRAIN.CHECKPOINT_FREQ",
        "1",
        "TRAINER.PROMPTSRC.GPA_MEAN",
        "2",
        "TRAINER.PROMPTSRC.GPA_STD",
        "1",
    ]
    trainer = run(toy_argv(toy_world, "PromptSRC", "PromptSRC/toy_vit_s.yaml", out, *opts))
    assert trainable_names(trainer) == {
        "prompt_learner.ctx",
        "vision_prompts.shallow",
        "vision_prompts.deep.0",
        "text_prompts.deep.0",
    }
    # Frozen text targets: one row per base class, not saved; no copy of the image tower is kept.
    assert trainer.model.fixed_embeddings.shape == (5, 64)
    state = trainer.model.state_dict()
    assert "fixed_embeddings" not in state and not any("ZS_image_encoder" in k for k in state)
    log = (out / "log.txt").read_text()
    assert "Using GPA model for final inference..." in log
    for term in ("loss_ce", "loss_scl_text", "loss_scl_image", "loss_scl_logits"):
        assert term in log

    # GPA: the last checkpoint holds w1 * theta_1 + w2 * theta_2; the first one holds theta_1.
    first = torch.load(out / "VLPromptLearner" / "model.pth.tar-1", map_location="cpu", weights_only=False)
    last = torch.load(out / "VLPromptLearner" / "model.pth.tar-2", map_location="cpu", weights_only=False)
    w1, w2 = trainer.gpa.weights
    assert first["trainer_state"]["gpa"]["epochs_seen"] == [0]
    theta1 = first["state_dict"]["vision_prompts.shallow"]
    assert torch.allclose(first["trainer_state"]["gpa"]["average"]["vision_prompts.shallow"], w1 * theta1)
    aggregate = last["trainer_state"]["gpa"]["average"]["vision_prompts.shallow"]
    assert torch.allclose(last["state_dict"]["vision_prompts.shallow"], aggregate)
    assert not torch.allclose(aggregate, theta1)
    assert results(out)["split"] == "test"

    new_out = tmp_path / "test_new"
    tester = run(
        toy_argv(
            toy_world,
            "PromptSRC",
            "PromptSRC/toy_vit_s.yaml",
            new_out,
            "DATASET.NUM_SHOTS",
            "4",
            "DATASET.SUBSAMPLE_CLASSES",
            "new",
            flags=["--model-dir", str(out), "--load-epoch", "2", "--eval-only"],
        )
    )
    shallow = tester.model.vision_prompts.shallow.cpu()
    assert torch.equal(shallow, last["state_dict"]["vision_prompts.shallow"])
    assert results(new_out)["total"] == 5 * 6
