"""load_model conventions: Dassl's strict loader and the CLIP-trainer variant."""

import pytest
import torch
from tiny_run import make_image_tree, tiny_cfg

from dassl.engine import build_trainer


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return make_image_tree(str(tmp_path_factory.mktemp("load")))


def _trained(root, out, trainer):
    cfg = tiny_cfg(root, out, "TEST.FINAL_MODEL", "best_val", "TRAIN.CHECKPOINT_FREQ", "1", trainer=trainer)
    cfg.freeze()
    t = build_trainer(cfg)
    t.train()
    return t


def test_clip_loader_drops_class_buffers_and_accepts_new_class_count(root, tmp_path, capsys):
    src = _trained(root, tmp_path / "src", "TinyPrompt")
    # A trainer whose class-dependent buffer has another size (e.g. new classes).
    cfg = tiny_cfg(root, tmp_path / "dst", trainer="TinyPrompt")
    dst = build_trainer(cfg)
    dst.model.token_prefix = torch.zeros(5, 1)
    capsys.readouterr()
    dst.load_model(str(tmp_path / "src"), epoch=-1)
    out = capsys.readouterr().out
    assert "Delete key token_prefix from checkpoint" in out
    assert "model.pth.tar-2\" (epoch = 2)" in out
    assert torch.equal(dst.model.fc.weight, src.model.fc.weight)
    assert dst.model.token_prefix.shape == (5, 1) and dst.weights_epoch == 2
    dst.load_model(str(tmp_path / "src"))  # epoch None -> model-best.pth.tar
    assert "model-best.pth.tar" in capsys.readouterr().out
    dst.load_model("")
    assert "load_model() is skipped" in capsys.readouterr().out


def test_dassl_loader_prints_none_val_result_and_is_strict(root, tmp_path, capsys):
    _trained(root, tmp_path / "src", "TinyLinear")
    cfg = tiny_cfg(root, tmp_path / "dst")
    dst = build_trainer(cfg)
    capsys.readouterr()
    dst.load_model(str(tmp_path / "src"), epoch=1)
    assert "(epoch=1, val_result=None)" in capsys.readouterr().out
    dst.load_model(str(tmp_path / "src"))
    best_line = capsys.readouterr().out
    assert "model-best.pth.tar to tiny_model (epoch=" in best_line
    assert "val_result=None" not in best_line and "val_result=" in best_line
    with pytest.raises(FileNotFoundError):
        dst.load_model(str(tmp_path / "src"), epoch=7)
    dst.model.token_prefix = torch.zeros(5, 1)
    with pytest.raises(RuntimeError):
        dst.load_model(str(tmp_path / "src"), epoch=1)


def test_dassl_loader_follows_the_clean_protocol(root, tmp_path, capsys):
    """Without an epoch, TEST.PROTOCOL clean loads the last epoch file, never the val-selected best file."""
    _trained(root, tmp_path / "src", "TinyLinear")
    dst = build_trainer(tiny_cfg(root, tmp_path / "dst", "TEST.PROTOCOL", "clean"))
    capsys.readouterr()
    dst.load_model(str(tmp_path / "src"))
    assert "model.pth.tar-2 to tiny_model (epoch=2" in capsys.readouterr().out
    assert dst.weights_epoch == 2
