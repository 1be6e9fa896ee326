"""Confusion-bank aggregation on a hand-built example, and the bank file round trip."""

import pytest
import torch

from trainers.capt.bank import BankParams, load_bank, make_bank, pair_table, save_bank


def hand_built():
    labels = torch.tensor([0, 0, 1, 0])
    probs = torch.tensor([[0.2, 0.7, 0.1], [0.6, 0.1, 0.3], [0.5, 0.45, 0.05], [0.1, 0.8, 0.1]])
    # per sample, two views: top-2 classes and their probabilities
    idx = torch.tensor([[[1, 0], [0, 2]], [[0, 2], [0, 1]], [[0, 1], [0, 1]], [[1, 0], [1, 0]]])
    p = torch.tensor([[[.6, .3], [.9, .05]], [[.6, .3], [.8, .15]],
                      [[.5, .4], [.5, .4]], [[.8, .1], [.8, .1]]])
    return labels, probs, idx, p


def build(**kw):
    labels, probs, idx, p = hand_built()
    params = BankParams(near_miss_topr=2, near_miss_tau=0.05, **kw)
    feats = torch.randn(4, 8)
    return make_bank(["a", "b", "c"], [f"img{i}.png" for i in range(4)], labels, probs, feats, idx, p, params)


def test_counts_cells_and_stability():
    bank = build()
    expected_hard = torch.zeros(3, 3)
    expected_hard[0, 1], expected_hard[1, 0] = 2, 1
    assert torch.equal(bank["N_hard"], expected_hard)
    expected_soft = torch.tensor([[0.0, 1.6, 0.5], [0.5, 0.0, 0.05], [0.0, 0.0, 0.0]])
    assert torch.allclose(bank["N_soft"], expected_soft)
    assert torch.allclose(bank["N"], expected_hard + expected_soft)
    assert bank["cells"] == {0: {1: [3, 0], 2: [1]}, 1: {0: [2]}}
    assert bank["stable"][0, 1] == pytest.approx(0.75)
    assert bank["stable"][0, 2] == pytest.approx(0.5)
    assert bank["stable"][1, 0] == pytest.approx(1.0)
    assert bank["preds"].tolist() == [1, 0, 0, 1]


def test_soft_weight_cap_and_min_stability():
    bank = build(soft_weight=0.0, max_per_cell=1, min_stability=0.6)
    assert bank["cells"] == {0: {1: [3]}, 1: {0: [2]}}
    assert bank["N"][0, 2] == 0 and bank["N_soft"][0, 2] == pytest.approx(0.5)
    assert bank["N"][0, 1] == 2


def test_round_trip_weights_only(tmp_path):
    bank = build()
    path = tmp_path / "run" / "confusion_bank.pt"
    save_bank(bank, str(path))
    assert [p.name for p in path.parent.iterdir()] == ["confusion_bank.pt"]
    loaded = torch.load(path, weights_only=True)
    assert loaded["cells"] == bank["cells"]
    assert load_bank(str(path))["classnames"] == ["a", "b", "c"]
    top = pair_table(loaded, k=2)
    assert (top[0]["gt"], top[0]["pred"], top[0]["hard"]) == ("a", "b", 2)


def test_load_rejects_other_files(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"foo": 1}, path)
    with pytest.raises(ValueError, match="not a confusion bank"):
        load_bank(str(path))
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_bank(str(tmp_path / "missing.pt"))
