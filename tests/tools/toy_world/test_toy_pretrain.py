"""Contrastive pretraining of the toy CLIPs: loss, captions, schedule, determinism, written files."""

import json
import math

import pytest
import torch
import torch.nn.functional as F

import clip
from tools.toy_world import data as toy_data
from tools.toy_world import pretrain
from tools.toy_world.models import ToyCLIPConfig, init_state_dict
from tools.toy_world.prepare import CLASSNAMES, dataset_dir

TINY = ToyCLIPConfig(embed_dim=32, vision_width=64, vision_layers=1, text_width=64, text_layers=1)
RECIPE = pretrain.PretrainRecipe(steps=3, batch_size=8, lr=1e-3, warmup_steps=1, seed=7)


def _features(n, d=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (
        F.normalize(torch.randn(n, d, generator=g), dim=-1),
        F.normalize(torch.randn(n, d, generator=g), dim=-1),
    )


def test_loss_is_clip_loss_when_all_classes_differ():
    image, text = _features(5)
    scale = torch.tensor(math.log(10.0))
    logits = 10.0 * image @ text.t()
    target = torch.arange(5)
    expected = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))
    loss = pretrain.contrastive_loss(image, text, torch.tensor([3, 1, 4, 0, 2]), scale)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_loss_spreads_targets_over_same_class_pairs():
    image, text = _features(3, seed=1)
    labels = torch.tensor([0, 0, 1])
    logits = image @ text.t()  # logit scale 1
    targets = torch.tensor([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    i2t = -(targets * logits.log_softmax(1)).sum(1).mean()
    t2i = -(targets * logits.t().log_softmax(1)).sum(1).mean()
    loss = pretrain.contrastive_loss(image, text, labels, torch.tensor(0.0))
    assert loss.item() == pytest.approx(0.5 * (i2t + t2i).item(), rel=1e-6)
    # Plain InfoNCE would differ: the same-class pair (0, 1) would count as a negative.
    plain = 0.5 * (F.cross_entropy(logits, torch.arange(3)) + F.cross_entropy(logits.t(), torch.arange(3)))
    assert loss.item() != pytest.approx(plain.item(), rel=1e-3)


def test_short_context_text_encoding_equals_the_full_context():
    model = clip.build_model(init_state_dict(TINY, seed=0))
    captions = pretrain.Captions(pretrain.CAPTION_TEMPLATES, CLASSNAMES)
    assert captions.length < 77
    ids = torch.tensor([0, 13, len(captions.tokens) - 1])
    with torch.no_grad():
        short = captions.encode(model, ids)
        full = model.encode_text(captions.tokens[ids])
    torch.testing.assert_close(short, full, atol=1e-5, rtol=1e-5)
    assert captions.index(torch.tensor([2]), torch.tensor([9])).item() == 29


def test_learning_rate_warms_up_then_decays_to_zero():
    recipe = pretrain.PretrainRecipe(steps=100, lr=1.0, warmup_steps=10)
    assert pretrain.learning_rate(0, recipe) == pytest.approx(0.1)
    assert pretrain.learning_rate(9, recipe) == pytest.approx(1.0)
    assert pretrain.learning_rate(55, recipe) == pytest.approx(0.5)
    assert pretrain.learning_rate(99, recipe) < 0.001


def test_batch_order_is_seeded_and_covers_each_pass():
    a, b = pretrain.BatchOrder(10, 4, 5, seed=3), pretrain.BatchOrder(10, 4, 5, seed=3)
    first = [a.next() for _ in range(4)]
    second = [b.next() for _ in range(4)]
    assert all(torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) for x, y in zip(first, second))
    assert sorted(torch.cat([first[0][0], first[1][0]]).tolist()) == list(range(10))
    assert all(0 <= t < 4 for _, templates in first for t in templates.tolist())
    with pytest.raises(ValueError, match="fewer than the batch size"):
        pretrain.BatchOrder(3, 4, 5, seed=0)


def _pool(root):
    directory = dataset_dir(root)
    return toy_data.load_images(directory, toy_data.read_entries(directory, "pool"), 32, workers=1)


def test_training_is_deterministic_and_moves_the_weights(small_root):
    images, labels = _pool(small_root)
    assert images.shape == (30, 32, 32) and images.dtype == torch.uint8
    one = pretrain.train(TINY, RECIPE, images, labels, progress=False)
    two = pretrain.train(TINY, RECIPE, images, labels, progress=False)
    assert all(torch.equal(one[k], two[k]) for k in one)
    start = init_state_dict(TINY, seed=RECIPE.seed)
    assert not torch.equal(one["visual.conv1.weight"], start["visual.conv1.weight"])
    assert not torch.equal(one["text_projection"], start["text_projection"])


def test_model_inputs_match_the_evaluation_preprocessing(small_root):
    from PIL import Image

    directory = dataset_dir(small_root)
    entries = toy_data.read_entries(directory, "test")[:3]
    images, _ = toy_data.load_images(directory, entries, 32, workers=1)
    preprocess = clip.build_preprocess(32, toy_data.PIXEL_STATS)
    expected = torch.stack([preprocess(Image.open(directory / "images" / e[0])) for e in entries])
    torch.testing.assert_close(toy_data.to_model_input(images), expected, atol=1e-6, rtol=0)


def test_written_files_load_by_name_and_record_the_run(small_root, tmp_path):
    record = pretrain.build_model_files(
        "ToyViT-S", small_root, tmp_path, recipe=RECIPE, progress=False, workers=1, config=TINY
    )
    weights = tmp_path / "ToyViT-S.pt"
    state = torch.load(weights, map_location="cpu", weights_only=True)
    assert "visual.proj" in state and "token_embedding.weight" in state
    assert all(v.dtype == torch.float16 for v in state.values())
    model, _ = clip.load("ToyViT-S", weights_dir=str(tmp_path))
    assert model.visual.input_resolution == 32 and model.text_projection.shape == (64, 32)
    saved = json.loads((tmp_path / "ToyViT-S.json").read_text())
    assert saved == json.loads(json.dumps(record))
    assert saved["architecture"]["vision_width"] == 64 and saved["seed"] == 7
    assert saved["data"]["pretraining_images"] == 30 and saved["data"]["images_seen"] == 24
    assert saved["zero_shot"]["num_images"] == 20 and 0.0 <= saved["zero_shot"]["accuracy"] <= 100.0
    assert saved["file_bytes"] == weights.stat().st_size
    # The normalisation the model was trained with is read back from the record by every later run.
    assert clip.pixel_stats("ToyViT-S", str(tmp_path)) == toy_data.PIXEL_STATS
    stats = toy_data.PIXEL_STATS
    assert saved["preprocess"] == {"mean": list(stats.mean), "std": list(stats.std)}
    test_images, test_labels = toy_data.load_images(
        dataset_dir(small_root), toy_data.read_entries(dataset_dir(small_root), "test"), 32, workers=1
    )
    assert saved["zero_shot"]["accuracy"] == pytest.approx(
        round(pretrain.zero_shot_accuracy(model, test_images, test_labels), 2)
    )
    assert "/" not in json.dumps(saved["data"])  # no machine paths in the committed record
