"""Point 6: a diverged run neither saves nor scores NaN, and says where it diverged and what to change."""

import pytest
import tiny_run
import torch

import train


@pytest.fixture
def nan_after_first_step(monkeypatch):
    """The optimizer step turns every weight into NaN (a diverged update) while the loss that was
    computed before it is still finite."""
    original = tiny_run.TinyLinear.forward_backward

    def forward_backward(self, batch):
        summary = original(self, batch)
        with torch.no_grad():
            for p in self.model.parameters():
                p.fill_(float("nan"))
        return summary

    monkeypatch.setattr(tiny_run.TinyLinear, "forward_backward", forward_backward)


def test_nan_weights_are_never_saved_nor_scored(tmp_path, data_root, nan_after_first_step):
    out = tmp_path / "run"
    argv = tiny_run.tiny_argv(data_root, out, "DATALOADER.TRAIN_X.BATCH_SIZE", "32", epochs=1)
    with pytest.raises(FloatingPointError) as excinfo:
        train.main(argv)
    message = str(excinfo.value)
    assert "epoch 1" in message and "OPTIM.LR" in message and "fc." in message
    assert not list(out.glob("tiny_model/model.pth.tar-*"))
    assert not (out / "results.json").exists() and not (out / "finished.json").exists()


def test_nan_outputs_are_not_scored(tmp_path, data_root, monkeypatch):
    monkeypatch.setattr(tiny_run.TinyLinear, "model_inference",
                        lambda self, x: torch.full((x.shape[0], 3), float("nan")))
    out = tmp_path / "zero_shot"
    with pytest.raises(FloatingPointError, match="test split.*batch 1.*OPTIM.LR"):
        train.main(tiny_run.tiny_argv(data_root, out, flags=["--eval-only"]))
    assert not (out / "results.json").exists()


def test_nan_loss_names_epoch_batch_and_key(tmp_path, data_root, monkeypatch):
    def forward_backward(self, batch):
        image, label = self.parse_batch_test(batch)
        loss = torch.nn.functional.cross_entropy(self.model(image), label) * float("nan")
        return tiny_run.dassl_step(self, loss)

    monkeypatch.setattr(tiny_run.TinyLinear, "forward_backward", forward_backward)
    with pytest.raises(FloatingPointError, match=r"epoch 1/1, batch 1/\d+.*OPTIM.LR \(now 0.05\)"):
        train.main(tiny_run.tiny_argv(data_root, tmp_path / "run", epochs=1))


def test_nan_loss_stops_before_any_optimizer_step(tmp_path, data_root, monkeypatch):
    """The finite-loss check runs after backward (no host wait before it) but still before the update."""
    seen = {}

    def forward_backward(self, batch):
        image, label = self.parse_batch_test(batch)
        seen["before"] = [p.detach().clone() for p in self.model.parameters()]
        seen["params"] = list(self.model.parameters())
        loss = torch.nn.functional.cross_entropy(self.model(image), label) * float("nan")
        return tiny_run.dassl_step(self, loss)

    monkeypatch.setattr(tiny_run.TinyLinear, "forward_backward", forward_backward)
    with pytest.raises(FloatingPointError, match="Loss is infinite or NaN"):
        train.main(tiny_run.tiny_argv(data_root, tmp_path / "run", epochs=1))
    assert all(torch.equal(p, q) for p, q in zip(seen["params"], seen["before"]))
