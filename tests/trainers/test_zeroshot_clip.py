"""Zero-shot CLIP through ``train.main(... --eval-only)`` on the toy world, checked against a direct
computation with the same weights; template handling of the ensemble trainer."""

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import clip
from dassl.engine import TRAINER_REGISTRY
from datasets.templates import SIMPLE_IMAGENET_TEMPLATES
from tools.toy_world.prepare import CLASSNAMES, SPLIT_FILE
from trainers.zeroshot_clip import ZeroshotCLIP, ZeroshotCLIP2

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "trainers" / "ZeroShotCLIP" / "toy_vit_s.yaml"
CONFIG2 = REPO / "configs" / "trainers" / "ZeroshotCLIP2" / "toy_vit_s.yaml"
DATASET_CONFIG = REPO / "configs" / "datasets" / "fashion_mnist.yaml"
PRETRAINED = REPO / "clip" / "ToyViT-S.pt"


def _weights_dir(toy_world) -> Path:
    """The pretrained toy CLIP when it has been built, otherwise the random one of the fixture."""
    return PRETRAINED.parent if PRETRAINED.is_file() else toy_world.weights_dir


def _run(toy_world, tmp_path, trainer, config, subsample, dataset_config=DATASET_CONFIG):
    out = tmp_path / f"{trainer}_{subsample}_{dataset_config.stem}"
    toy_world.run_train(
        [
            "--root",
            str(toy_world.root),
            "--seed",
            "1",
            "--trainer",
            trainer,
            "--dataset-config-file",
            str(dataset_config),
            "--config-file",
            str(config),
            "--output-dir",
            str(out),
            "--eval-only",
            "DATASET.SUBSAMPLE_CLASSES",
            subsample,
            "MODEL.CLIP_WEIGHTS_DIR",
            str(_weights_dir(toy_world)),
            "DATALOADER.NUM_WORKERS",
            "0",
        ]
    )
    return out


def _direct_predictions(toy_world, labels, templates):
    """Predictions computed here without the trainer: PIL -> CLIP preprocessing -> cosine logits."""
    model, preprocess = clip.load("ToyViT-S", weights_dir=str(_weights_dir(toy_world)))
    dataset_dir = toy_world.root / "fashion_mnist"
    split = json.loads((dataset_dir / SPLIT_FILE).read_text())
    test = [(p, y) for p, y, _ in split["test"] if y in labels]
    names = [CLASSNAMES[y] for y in labels]
    with torch.no_grad():
        text = 0
        for template in templates:
            t = model.encode_text(clip.tokenize([template.format(n) for n in names]))
            text = text + F.normalize(t, dim=-1)
        text = F.normalize(text, dim=-1)
        images = torch.stack([preprocess(Image.open(dataset_dir / "images" / p)) for p, _ in test])
        logits = F.normalize(model.encode_image(images), dim=-1) @ text.t()
    truth = torch.tensor([labels.index(y) for _, y in test])
    return logits.argmax(dim=1), truth


@pytest.mark.parametrize("subsample, labels", [("base", [0, 1, 2, 3, 4]), ("new", [5, 6, 7, 8, 9])])
def test_eval_only_matches_a_direct_computation(toy_world, tmp_path, capsys, subsample, labels):
    out = _run(toy_world, tmp_path, "ZeroshotCLIP", CONFIG, subsample)
    log = capsys.readouterr().out
    prompts = [f"a photo of a {CLASSNAMES[y]}." for y in labels]
    assert f"Prompts: {prompts}" in log
    assert "* accuracy:" in log and "=> result" in log
    results = json.loads((out / "results.json").read_text())
    pred, truth = _direct_predictions(toy_world, labels, ["a photo of a {}."])
    assert results["total"] == len(truth)
    # The trainer batches differently; allow one flip of a near tie.
    assert abs(results["correct"] - int((pred == truth).sum())) <= 1
    assert results["accuracy"] == pytest.approx(100.0 * results["correct"] / results["total"])
    if PRETRAINED.is_file():  # the pretrained student must be far above the 20% chance level
        assert results["accuracy"] > 50.0


@pytest.mark.skipif(not PRETRAINED.is_file(), reason="needs the pretrained ToyViT-S")
def test_shifted_copies_leave_headroom(toy_world, tmp_path):
    """The reason the shifted copies exist: the pretrained toy CLIP recognises the original images far better
    than their edge maps, and the inverted images least, so prompt tuning has something to learn there."""
    accuracy = {}
    for stem in ("fashion_mnist", "fashion_mnist_edges", "fashion_mnist_inverted"):
        config = DATASET_CONFIG.with_name(f"{stem}.yaml")
        out = _run(toy_world, tmp_path, "ZeroshotCLIP", CONFIG, "all", dataset_config=config)
        results = json.loads((out / "results.json").read_text())
        assert results["total"] == 60 and results["dataset"] == config.read_text().split('"')[1]
        accuracy[stem] = results["accuracy"]
    assert accuracy["fashion_mnist"] > 60.0
    assert accuracy["fashion_mnist_edges"] < accuracy["fashion_mnist"] - 15.0
    assert accuracy["fashion_mnist_inverted"] < accuracy["fashion_mnist_edges"] - 10.0


def test_ensemble_uses_eight_templates_and_matches_direct_computation(toy_world, tmp_path, capsys):
    out = _run(toy_world, tmp_path, "ZeroshotCLIP2", CONFIG2, "new")
    log = capsys.readouterr().out
    assert log.count("Prompts: ") == 8
    assert "Prompts: ['itap of a sandal.'" in log
    templates = [*SIMPLE_IMAGENET_TEMPLATES, "a photo of a {}."]
    pred, truth = _direct_predictions(toy_world, [5, 6, 7, 8, 9], templates)
    results = json.loads((out / "results.json").read_text())
    assert abs(results["correct"] - int((pred == truth).sum())) <= 1


def _templates(cls, dataset):
    trainer = cls.__new__(cls)
    trainer.cfg = type("Cfg", (), {"DATASET": type("D", (), {"NAME": dataset})})
    return trainer.prompt_templates()


def test_ensemble_templates_and_no_shared_state():
    assert _templates(ZeroshotCLIP, "OxfordPets") == ["a photo of a {}, a type of pet."]
    assert _templates(ZeroshotCLIP2, "ImageNet") == list(SIMPLE_IMAGENET_TEMPLATES)
    first = _templates(ZeroshotCLIP2, "EuroSAT")
    again = _templates(ZeroshotCLIP2, "EuroSAT")
    assert first == [*SIMPLE_IMAGENET_TEMPLATES, "a centered satellite photo of {}."] == again
    first.append("mutated {}")
    assert len(_templates(ZeroshotCLIP2, "EuroSAT")) == 8
    assert len(SIMPLE_IMAGENET_TEMPLATES) == 7


def test_both_upstream_names_are_registered():
    assert TRAINER_REGISTRY.get("ZeroshotCLIP") is ZeroshotCLIP
    assert TRAINER_REGISTRY.get("ZeroShotCLIP") is ZeroshotCLIP
    assert issubclass(TRAINER_REGISTRY.get("ZeroshotCLIP2"), ZeroshotCLIP)


def test_load_model_is_a_no_op(capsys):
    trainer = ZeroshotCLIP.__new__(ZeroshotCLIP)
    trainer.load_model("/nonexistent/dir", epoch=3)
    assert "nothing to load" in capsys.readouterr().out
