import math

import numpy as np
import pytest
import torch
from torch import nn

from dassl.engine import TrainerBase
from trainers.common.gpa import GaussianPromptAggregation, GPAHook, gaussian_weights


def test_weights_follow_a_normalised_gaussian_over_epochs_1_to_E():
    w = gaussian_weights(3, mean=2, std=1)
    raw = [math.exp(-0.5), 1.0, math.exp(-0.5)]
    assert w == pytest.approx([r / sum(raw) for r in raw])
    # Same numbers as PromptSRC's normalised Gaussian density.
    density = np.array([np.exp(-0.5 * ((e - 15) / 1) ** 2) / np.sqrt(2 * np.pi) for e in range(1, 21)])
    assert gaussian_weights(20, 15, 1) == pytest.approx(list(density / density.sum()))
    assert sum(gaussian_weights(50, 30, 30)) == pytest.approx(1.0)
    assert max(range(20), key=lambda i: gaussian_weights(20, 15, 1)[i]) == 14  # epoch 15, 0-based 14


def test_weights_reject_bad_settings():
    with pytest.raises(ValueError, match="GPA_STD"):
        gaussian_weights(5, 3, 0)
    with pytest.raises(ValueError, match="zero weight"):
        gaussian_weights(5, 1e6, 1)
    with pytest.raises(ValueError):
        gaussian_weights(0, 1, 1)


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.prompt = nn.Parameter(torch.zeros(2))
        self.frozen = nn.Parameter(torch.full((2,), 7.0), requires_grad=False)


def test_aggregation_is_the_weighted_sum_and_loads_into_the_module():
    net = _Net()
    gpa = GaussianPromptAggregation(3, mean=2, std=1)
    values = [torch.tensor([1.0, -1.0]), torch.tensor([2.0, 0.0]), torch.tensor([4.0, 3.0])]
    for epoch, value in enumerate(values):
        with torch.no_grad():
            net.prompt.copy_(value)
        assert not gpa.complete
        gpa.update(epoch, {"prompt": net.prompt})
    assert gpa.complete
    expected = sum(w * v for w, v in zip(gpa.weights, values))
    with torch.no_grad():
        net.prompt.fill_(100.0)
    assert gpa.load_into(net) == ["prompt"]
    assert torch.allclose(net.prompt, expected)
    assert torch.equal(net.frozen, torch.full((2,), 7.0))


def test_aggregation_guards_and_state_round_trip():
    gpa = GaussianPromptAggregation(4, mean=3, std=2)
    with pytest.raises(RuntimeError):
        gpa.load_into(_Net())
    gpa.update(0, {"prompt": torch.ones(2)})
    with pytest.raises(ValueError, match="already"):
        gpa.update(0, {"prompt": torch.ones(2)})
    with pytest.raises(ValueError, match="outside"):
        gpa.update(4, {"prompt": torch.ones(2)})
    with pytest.raises(KeyError, match="not found"):
        gpa.load_into(nn.Linear(1, 1))

    resumed = GaussianPromptAggregation(4, mean=3, std=2)
    resumed.load_state_dict(gpa.state_dict())
    assert resumed.epochs_seen == [0]
    assert torch.allclose(resumed.average["prompt"], gpa.average["prompt"])
    with pytest.raises(ValueError, match="different"):
        GaussianPromptAggregation(4, mean=2, std=2).load_state_dict(gpa.state_dict())


class _LoopTrainer(TrainerBase):
    """Epochs without steps that set the trainable tensor to the epoch number (1-based)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def run_epoch(self):
        with torch.no_grad():
            self.model.weight.fill_(self.epoch + 1)


def test_gpa_hook_aggregates_every_epoch_and_loads_the_aggregate_after_the_last(capsys):
    model = nn.Linear(1, 1, bias=False)
    gpa = GaussianPromptAggregation(3, mean=2, std=1)
    trainer = _LoopTrainer(model)
    trainer.register_hooks([GPAHook(gpa)])
    trainer.train(0, 3)
    expected = sum(w * (e + 1) for e, w in enumerate(gpa.weights))
    assert model.weight.item() == pytest.approx(expected)
    assert capsys.readouterr().out == "Using GPA model for final inference...\n"


def test_gpa_hook_warns_when_a_resumed_run_lost_earlier_epochs(capsys):
    model = nn.Linear(1, 1, bias=False)
    trainer = _LoopTrainer(model)
    hook = GPAHook(GaussianPromptAggregation(3, mean=2, std=1))
    trainer.register_hooks([hook])
    assert trainer._hook_states() == {"gpa": hook.aggregation.state_dict()}
    trainer.train(2, 3)  # resumed before the last epoch without the saved aggregate
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("GPA covers epochs [3] only")
