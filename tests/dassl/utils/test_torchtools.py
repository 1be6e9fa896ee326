"""Checkpoint files: layout, atomic writes, loading rules."""

import os

import pytest
import torch
import torch.nn as nn

from dassl.utils import (
    count_num_param,
    load_checkpoint,
    load_pretrained_weights,
    resume_from_checkpoint,
    save_checkpoint,
)


class Prompted(nn.Module):
    def __init__(self, n_cls):
        super().__init__()
        self.ctx = nn.Parameter(torch.randn(2, 4))
        self.register_buffer("token_prefix", torch.zeros(n_cls, 1, 4))
        self.register_buffer("token_suffix", torch.zeros(n_cls, 3, 4))


def state(model, epoch, **extra):
    return {"state_dict": model.state_dict(), "epoch": epoch, "optimizer": None, "scheduler": None,
            "val_result": None, **extra}


def test_save_layout_pointer_and_best_copy(tmp_path, capsys):
    m = Prompted(3)
    save_checkpoint(state(m, 4), str(tmp_path), is_best=True)
    out = capsys.readouterr().out
    assert f"Checkpoint saved to {tmp_path / 'model.pth.tar-4'}" in out
    assert f'Best checkpoint saved to "{tmp_path / "model-best.pth.tar"}"' in out
    assert (tmp_path / "checkpoint").read_text() == "model.pth.tar-4\n"
    assert sorted(os.listdir(tmp_path)) == ["checkpoint", "model-best.pth.tar", "model.pth.tar-4"]
    save_checkpoint(state(m, 5), str(tmp_path), model_name="model-best.pth.tar")
    assert (tmp_path / "checkpoint").read_text() == "model-best.pth.tar\n"


def test_module_prefix_is_stripped(tmp_path):
    wrapped = nn.Sequential()
    wrapped.add_module("module", nn.Linear(2, 2))
    save_checkpoint({"state_dict": wrapped.state_dict(), "epoch": 1}, str(tmp_path))
    assert set(load_checkpoint(str(tmp_path / "model.pth.tar-1"))["state_dict"]) == {"weight", "bias"}


def test_failed_save_leaves_previous_file_intact(tmp_path):
    m = Prompted(3)
    save_checkpoint(state(m, 1), str(tmp_path))
    before = (tmp_path / "model.pth.tar-1").read_bytes()

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        save_checkpoint(state(m, 1, extra=Unpicklable()), str(tmp_path))
    assert (tmp_path / "model.pth.tar-1").read_bytes() == before
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_load_checkpoint_errors(tmp_path):
    with pytest.raises(ValueError):
        load_checkpoint(None)
    with pytest.raises(FileNotFoundError, match="missing"):
        load_checkpoint(str(tmp_path / "missing"))


def test_resume_skips_class_buffers_of_another_size(tmp_path, capsys):
    src = Prompted(19)
    opt = torch.optim.SGD(src.parameters(), lr=0.1, momentum=0.9)
    src.ctx.grad = torch.ones_like(src.ctx)
    opt.step()
    save_checkpoint(state(src, 3, optimizer=opt.state_dict()), str(tmp_path))

    dst = Prompted(18)
    opt2 = torch.optim.SGD(dst.parameters(), lr=0.1, momentum=0.9)
    assert resume_from_checkpoint(str(tmp_path), dst, opt2) == 3
    out = capsys.readouterr().out
    assert "skip 'token_prefix'" in out and "Loaded optimizer" in out and "Previous epoch: 3" in out
    assert torch.equal(dst.ctx, src.ctx) and dst.token_prefix.shape == (18, 1, 4)
    momentum = [o.state_dict()["state"][0]["momentum_buffer"] for o in (opt, opt2)]
    assert torch.equal(*momentum)


def test_resume_is_strict_for_parameters(tmp_path):
    save_checkpoint(state(Prompted(3), 1), str(tmp_path))
    other = nn.Linear(2, 2)
    with pytest.raises(RuntimeError):
        resume_from_checkpoint(str(tmp_path), other)


def test_load_pretrained_weights_copies_matching_entries(tmp_path, capsys):
    src = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    torch.save({"state_dict": src.state_dict()}, tmp_path / "w.pth")
    dst = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 5))
    load_pretrained_weights(dst, str(tmp_path / "w.pth"))
    assert torch.equal(dst[0].weight, src[0].weight)
    assert "not loaded" in capsys.readouterr().out
    with pytest.warns(UserWarning, match="Cannot load"):
        load_pretrained_weights(nn.Linear(9, 9), str(tmp_path / "w.pth"))


def test_count_num_param():
    m = nn.Linear(3, 2)
    assert count_num_param(m) == 8
    assert count_num_param(params=[{"params": [m.weight]}, m.bias]) == 8
    with pytest.raises(ValueError):
        count_num_param()
