"""show_bank prints the most confused pairs and writes the heat-map PNG."""

import torch

from tools.confusion import show_bank
from trainers.capt.bank import BankParams, make_bank, save_bank


def toy_bank():
    labels = torch.tensor([0, 0, 0, 1, 2])
    probs = torch.tensor([[0.1, 0.8, 0.1], [0.2, 0.7, 0.1], [0.9, 0.05, 0.05], [0.6, 0.3, 0.1],
                          [0.1, 0.1, 0.8]])
    top = probs.topk(2, dim=1)
    idx, p = top.indices[:, None].repeat(1, 2, 1), top.values[:, None].repeat(1, 2, 1)
    return make_bank(["shirt", "t-shirt", "coat"], [f"{i}.png" for i in range(5)], labels, probs,
                     torch.randn(5, 4), idx, p, BankParams(near_miss_topr=2))


def test_table_and_png(tmp_path, capsys):
    path = tmp_path / "confusion_bank.pt"
    save_bank(toy_bank(), str(path))
    assert show_bank.main([str(tmp_path), "--top", "3"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("shirt") or line.startswith("t-shirt")]
    assert lines[0].split()[:3] == ["shirt", "t-shirt", "2"]
    assert "2 hard errors" not in out and "3 hard errors" in out
    assert (tmp_path / "confusion_bank.png").read_bytes()[:4] == b"\x89PNG"
