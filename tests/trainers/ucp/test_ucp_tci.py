"""TCI extraction and its cache: the key covers backbone weights, template and class list."""

import pytest
import torch

from clip import build_model, tokenize
from clip.testing import make_random_state_dict
from trainers.ucp.tci import TCICache, cache_key, extract_tci, load_or_extract_tci, text_tower_fingerprint


@pytest.fixture(scope="module")
def tiny_clip():
    return build_model(make_random_state_dict("vit", seed=3))


def test_tci_is_the_unnormalised_text_feature_of_the_template(tiny_clip):
    tci = extract_tci(tiny_clip, ["ankle_boot", "bag"], "a photo of a {}.")
    with torch.no_grad():
        expected = tiny_clip.encode_text(tokenize(["a photo of a ankle boot.", "a photo of a bag."]))
    assert tci.dtype == torch.float32 and torch.allclose(tci, expected)
    assert not torch.allclose(tci.norm(dim=-1), torch.ones(2))


def test_cache_hit_and_invalidation(tiny_clip, tmp_path, capsys):
    names, template = ["bag", "coat"], "a photo of a {}."
    first = load_or_extract_tci(tiny_clip, names, template, str(tmp_path), label="clip_base_Toy")
    assert "Saving" in capsys.readouterr().out
    again = load_or_extract_tci(tiny_clip, names, template, str(tmp_path), label="clip_base_Toy")
    assert "Loading wordvecs from cache" in capsys.readouterr().out
    assert torch.equal(first, again)

    # another template / class list / backbone: a new entry, never the stale one
    other_template = load_or_extract_tci(tiny_clip, names, "{} texture.", str(tmp_path),
                                         label="clip_base_Toy")
    assert "Saving" in capsys.readouterr().out
    assert not torch.allclose(other_template, first)
    other_names = load_or_extract_tci(tiny_clip, ["coat", "bag"], template, str(tmp_path),
                                      label="clip_base_Toy")
    assert "Saving" in capsys.readouterr().out
    assert torch.allclose(other_names, first.flip(0), atol=1e-5)
    other_clip = build_model(make_random_state_dict("vit", seed=4))
    other_weights = load_or_extract_tci(other_clip, names, template, str(tmp_path), label="clip_base_Toy")
    assert "Saving" in capsys.readouterr().out
    assert not torch.allclose(other_weights, first)
    assert len(list(tmp_path.glob("clip_base_Toy_*.pt"))) == 4


def test_fingerprint_changes_with_any_text_weight(tiny_clip):
    before = text_tower_fingerprint(tiny_clip)
    with torch.no_grad():
        tiny_clip.ln_final.bias[0] += 1e-3
    try:
        assert text_tower_fingerprint(tiny_clip) != before
    finally:
        with torch.no_grad():
            tiny_clip.ln_final.bias[0] -= 1e-3
    # vision weights do not affect TCI
    with torch.no_grad():
        tiny_clip.visual.proj[0, 0] += 1.0
    assert text_tower_fingerprint(tiny_clip) == before


def test_a_file_with_a_foreign_key_is_ignored(tmp_path, capsys):
    cache = TCICache(str(tmp_path))
    key = cache_key("abc", "a photo of a {}.", ["bag"])
    path = cache.path(key)
    torch.save({"key": cache_key("other", "a photo of a {}.", ["bag"]), "tci": torch.zeros(1, 4)}, path)
    assert cache.load(key) is None
    assert "different backbone" in capsys.readouterr().out
    cache.save(key, torch.ones(1, 4))
    assert torch.equal(cache.load(key), torch.ones(1, 4))
    assert not list(tmp_path.glob(".tci-*"))


def test_template_without_slot_is_rejected(tiny_clip):
    with pytest.raises(ValueError, match="slot"):
        extract_tci(tiny_clip, ["bag"], "a photo")
