"""SEM: the confusion score formula, pair mining, pair texts and guidance encoding/caching."""

import json

import pytest
import torch

from trainers.capt.sem import confusion_scores, gather_guidance, load_or_encode_guidance, mine_pairs
from trainers.capt.textfiles import pair_texts


def test_confusion_score_formula():
    z = torch.tensor([[3.0, 1.0, 2.0, 0.0]])
    bank_n = torch.tensor([[0, 1, 3, 0], [2, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]], dtype=torch.float)
    scores, pseudo = confusion_scores(z, bank_n, "sym")
    c = z.softmax(-1)[0]
    n = torch.tensor([0.0, 1 + 2, 3 + 1, 0 + 0])  # N[p, j] + N[j, p], p = 0, diagonal ignored
    assert pseudo.item() == 0
    assert torch.allclose(scores[0], (1 + n / n.sum()) * c)
    row, _ = confusion_scores(z, bank_n, "row")
    assert torch.allclose(row[0], (1 + torch.tensor([0.0, 1, 3, 0]) / 4) * c)
    col, _ = confusion_scores(z, bank_n, "col")
    assert torch.allclose(col[0], (1 + torch.tensor([0.0, 2, 1, 0]) / 3) * c)
    pairs, intensity = mine_pairs(scores, pseudo, topk=2)
    assert pairs[0].tolist() == [2, 1]
    assert intensity.item() == pytest.approx(scores[0, 2].item())


def test_no_counts_means_plain_softmax():
    z = torch.randn(5, 6)
    scores, pseudo = confusion_scores(z, None)
    assert torch.allclose(scores, z.softmax(-1))
    scores0, _ = confusion_scores(z, torch.zeros(6, 6))
    assert torch.allclose(scores0, z.softmax(-1))
    pairs, _ = mine_pairs(scores, pseudo, topk=10)
    assert pairs.shape == (5, 5) and not (pairs == pseudo[:, None]).any()


def test_pair_texts_priority(tmp_path):
    pair_file = tmp_path / "pairs.json"
    pair_file.write_text(json.dumps({"cat": {"dog": {"diff": ["cats purr"]}}}))
    desc = tmp_path / "desc.json"
    desc.write_text(json.dumps({"cat": ["has fur", "has whiskers"], "dog": ["has fur", "barks"],
                                "big_car": ["has wheels"]}))
    texts = pair_texts(["cat", "dog", "big_car"], pair_file=str(pair_file), desc_file=str(desc))
    assert texts[(0, 1)]["diff"] == ["cats purr"]
    assert texts[(0, 1)]["common"] == ["a photo of a cat or a dog: has fur."]
    assert texts[(1, 0)]["diff"] == ["a photo of a dog, not a cat: barks."]
    assert texts[(2, 0)]["common"] == ["a photo of a big car or a cat."]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"cat": {"dog": {"diff": "not a list"}}}))
    with pytest.raises(ValueError, match="bad.json"):
        pair_texts(["cat", "dog"], pair_file=str(bad))


def test_guidance_encoded_once_and_cached(tmp_path):
    calls = []

    def encode(texts):
        calls.append(len(texts))
        g = torch.Generator().manual_seed(len(" ".join(texts)))
        return torch.randn(len(texts), 8, generator=g)

    classes = ["a", "b", "c"]
    feats = torch.randn(3, 8)
    g1 = load_or_encode_guidance(classes, str(tmp_path), "enc-1", encode, feats)
    assert g1.shape == (2, 3, 3, 8) and sum(calls) == 12
    assert torch.allclose(g1[:, 0, 1].norm(dim=-1), torch.ones(2)) and g1[0, 1, 1].abs().sum() == 0
    g2 = load_or_encode_guidance(classes, str(tmp_path), "enc-1", encode, feats)
    assert sum(calls) == 12 and torch.equal(g1, g2)
    load_or_encode_guidance(classes, str(tmp_path), "enc-2", encode, feats)
    assert sum(calls) == 24  # another encoder is another cache entry
    pseudo, pairs = torch.tensor([0, 2]), torch.tensor([[1, 2], [0, 1]])
    guide = gather_guidance(g1, pseudo, pairs)
    assert guide.shape == (2, 2, 2, 8)
    assert torch.equal(guide[1, 1, 0], g1[1, 2, 0]) and torch.equal(guide[0, 0, 1], g1[0, 0, 2])


def test_kmeans_compression_keeps_discriminative_centres():
    from trainers.capt.sem import compress_tokens

    class_feats = torch.eye(4)
    tokens = torch.cat([class_feats[0].repeat(3, 1), class_feats[1].repeat(3, 1), class_feats[2:4]])
    out = compress_tokens(tokens + 0.01 * torch.randn_like(tokens), 0, class_feats, k=4, keep=1)
    assert out.argmax().item() == 0 and out[0] > 0.99
