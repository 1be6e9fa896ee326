"""DAPT: prompt layout, dispersion terms, prototype generation and a base -> new toy run."""

import pickle

import pytest
import torch
from vl_toy import results, run, toy_argv

from tools.parse_results import collect_runs
from tools.sweep import is_finished
from trainers.dapt import text_dispersion

FAST = ["DATASET.NUM_SHOTS", "2", "OPTIM.MAX_EPOCH", "1", "TRAIN.COLLECT_ENV_INFO", "False",
        "TRAINER.DAPT.VIS_NUM_TOKENS", "4", "TRAINER.DAPT.TXT_NUM_TOKENS", "4"]


def test_text_dispersion_is_mean_rbf_of_pairwise_distances():
    t = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    # squared distances of unit vectors: 2, 4, 2
    expected = (2 * torch.exp(torch.tensor(-2.0 * 2)) + torch.exp(torch.tensor(-2.0 * 4))) / 3
    assert text_dispersion(t * 3.0, 2.0).item() == pytest.approx(expected.item(), abs=1e-6)


@pytest.mark.slow
def test_dapt_prototypes_then_base_training_then_new_eval(toy_world, tmp_path):
    gen = run(toy_argv(toy_world, "DAPT", "DAPT/toy_vit_s.yaml", tmp_path / "proto", *FAST,
                       "TRAINER.DAPT.PROTOTYPE_GEN", "True"))
    path = toy_world.root / "fashion_mnist" / "split_fewshot" / "shot_2-seed_1_prototype.pkl"
    with open(path, "rb") as f:
        proto = pickle.load(f)
    assert proto.shape == (10, 64)  # all classes, original labels
    assert torch.allclose(proto.float().norm(dim=-1), torch.ones(10), atol=0.2)  # means of unit vectors
    assert not (tmp_path / "proto" / "learnable_params").exists()  # the generation run does not train
    assert gen.model.prompt_learner.vis_ctx.shape == (1, 4, 64)
    # the run records that it finished without an evaluation, so sweeps skip it and tables leave it out
    record = results(tmp_path / "proto")
    assert record["evaluated"] is False and record["outputs"] == {"prototypes": str(path)}
    assert is_finished(str(tmp_path / "proto"))
    runs, notes = collect_runs(str(tmp_path / "proto"))
    assert runs == [] and notes == []

    out = tmp_path / "train_base"
    trainer = run(toy_argv(toy_world, "DAPT", "DAPT/toy_vit_s.yaml", out, *FAST,
                           "DATASET.SUBSAMPLE_CLASSES", "base"))
    assert torch.equal(trainer.prototypes.cpu(), proto[:5].float())
    state = torch.load(out / "learnable_params" / "model.pth.tar-1", map_location="cpu",
                       weights_only=False)["state_dict"]
    assert state["prompt_learner.vis_ctx"].shape == (1, 4, 64)
    assert state["prompt_learner.txt_ctx"].shape == (4, 64)
    assert results(out)["total"] == 5 * 6
    # visual prompts change the image features: the prompted tower differs from the plain one
    image = torch.randn(2, 3, 32, 32, device=trainer.device)
    net = trainer.model.eval()
    with torch.no_grad():
        assert not torch.allclose(net.image_features(image), net.clip.encode_image(image))

    new_out = tmp_path / "test_new"
    path.rename(path.with_suffix(".moved"))  # evaluation must not need the prototypes
    tester = run(toy_argv(toy_world, "DAPT", "DAPT/toy_vit_s.yaml", new_out, *FAST,
                          "DATASET.SUBSAMPLE_CLASSES", "new",
                          flags=["--model-dir", str(out), "--load-epoch", "-1", "--eval-only"]))
    path.with_suffix(".moved").rename(path)
    assert torch.equal(tester.model.prompt_learner.vis_ctx.cpu(), state["prompt_learner.vis_ctx"])
    assert results(new_out)["total"] == 5 * 6


def test_training_without_prototypes_names_the_file(toy_world, tmp_path):
    with pytest.raises(FileNotFoundError, match="PROTOTYPE_GEN"):
        run(toy_argv(toy_world, "DAPT", "DAPT/toy_vit_s.yaml", tmp_path, *FAST, seed=7))
