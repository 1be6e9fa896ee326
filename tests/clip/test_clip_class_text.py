"""The one encoder of fixed class texts: filling, batching, pooling over templates, normalisation."""

import pytest
import torch

from clip import tokenize
from clip.class_text import class_prompts, encode_class_texts, encode_texts, fill

NAMES = ["ankle_boot", "bag", "coat"]
TEMPLATES = ["a photo of a {}.", "art of the {}.", "a {} in a shop."]


def _per_template(model, templates, names):
    """Raw features [T, C, D], one template at a time, computed here without the helper."""
    with torch.no_grad():
        return torch.stack([
            model.encode_text(tokenize([t.format(n.replace("_", " ")) for n in names])) for t in templates
        ])


def test_fill_replaces_underscores_and_prompts_are_template_major():
    assert fill("a photo of a {}.", "ankle_boot") == "a photo of a ankle boot."
    assert class_prompts(["{}.", "a {}!"], ["x_y", "z"]) == ["x y.", "z.", "a x y!", "a z!"]


def test_template_without_slot_is_rejected_with_its_text():
    with pytest.raises(ValueError, match="'a photo' has no"):
        class_prompts(["a {}.", "a photo"], ["bag"])


def test_zero_shot_ensemble_normalises_each_template_then_the_mean(vit_model):
    per = _per_template(vit_model, TEMPLATES, NAMES)
    each = per / per.norm(dim=-1, keepdim=True)
    mean = each.mean(dim=0)
    expected = mean / mean.norm(dim=-1, keepdim=True)
    got = encode_class_texts(vit_model, TEMPLATES, NAMES)
    assert got.dtype == torch.float32 and got.shape == (3, per.shape[-1])
    assert torch.allclose(got, expected, atol=1e-6)
    # Not the same as normalising only the raw mean (templates with larger norms would weigh more).
    raw_mean = per.mean(dim=0)
    assert not torch.allclose(got, raw_mean / raw_mean.norm(dim=-1, keepdim=True), atol=1e-6)


def test_raw_mean_and_single_template(vit_model):
    per = _per_template(vit_model, TEMPLATES, NAMES)
    raw = encode_class_texts(vit_model, TEMPLATES, NAMES, normalize_each=False, normalize=False)
    assert torch.allclose(raw, per.mean(dim=0), atol=1e-6)
    one = encode_class_texts(vit_model, TEMPLATES[1], NAMES, normalize_each=False, normalize=False)
    assert torch.equal(one, per[1])


def test_batches_give_the_features_of_one_pass(vit_model):
    texts = class_prompts(TEMPLATES, NAMES)
    whole = encode_texts(vit_model, texts)
    assert whole.shape[0] == len(texts) and not whole.requires_grad
    assert torch.allclose(encode_texts(vit_model, texts, batch_size=2), whole, atol=1e-6)
    pooled = encode_class_texts(vit_model, TEMPLATES, NAMES, normalize_each=False, normalize=False,
                                batch_size=4)
    assert torch.allclose(pooled, whole.view(3, 3, -1).mean(dim=0), atol=1e-6)


def test_long_sentences_raise_unless_truncated(vit_model):
    long = "a very long sentence about a coat " * 20
    with pytest.raises(RuntimeError, match="too long"):
        encode_texts(vit_model, [long])
    assert encode_texts(vit_model, [long, "a coat."], truncate=True).shape[0] == 2


def test_empty_inputs_are_errors(vit_model):
    with pytest.raises(ValueError, match="at least one"):
        encode_class_texts(vit_model, [], NAMES)
    with pytest.raises(ValueError, match="at least one"):
        encode_class_texts(vit_model, TEMPLATES, [])
    with pytest.raises(ValueError, match="at least one"):
        encode_texts(vit_model, [])
