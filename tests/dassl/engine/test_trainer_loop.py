"""TrainerBase / SimpleTrainer / TrainerX behaviour outside train.py."""

import json

import pytest
import torch
from tiny_run import make_image_tree, tiny_cfg

from dassl.engine import TrainerBase, build_trainer


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return make_image_tree(str(tmp_path_factory.mktemp("loop")))


def lrs_seen(trainer):
    seen = []
    original = trainer.run_epoch

    def run_epoch():
        seen.append(trainer.get_current_lr())
        original()

    trainer.run_epoch = run_epoch
    trainer.train()
    return seen


def test_scheduler_steps_once_per_epoch(root, tmp_path):
    cfg = tiny_cfg(root, tmp_path, "OPTIM.LR", "0.1", "TEST.NO_TEST", "True", trainer="TinyLinear", epochs=3)
    seen = lrs_seen(build_trainer(cfg))
    assert seen == pytest.approx([1e-5, 0.1, 0.1 * 0.5 * (1 + torch.cos(torch.tensor(torch.pi / 3)).item())])


def test_register_model_before_init_and_bad_mode():
    class Early(TrainerBase):
        def __init__(self):
            self.register_model("m", torch.nn.Linear(1, 1))

    with pytest.raises(AttributeError):
        Early()
    base = TrainerBase()
    base.register_model("m", torch.nn.Linear(1, 1))
    with pytest.raises(AssertionError):
        base.register_model("m", torch.nn.Linear(1, 1))
    with pytest.raises(KeyError):
        base.set_model_mode("inference")
    base.set_model_mode("eval")
    assert not base._models["m"].training
    with pytest.raises(FloatingPointError, match="infinite or NaN"):
        base.detect_anomaly(torch.tensor(float("nan")))
    base.write_scalar("x", 1.0)  # no writer: no-op


def test_test_writes_results_with_history_and_wrong_predictions(root, tmp_path):
    cfg = tiny_cfg(root, tmp_path, "TEST.PER_CLASS_RESULT", "True")
    trainer = build_trainer(cfg)
    with torch.no_grad():
        trainer.model.fc.weight.zero_()
        trainer.model.fc.bias.copy_(torch.tensor([1.0, 0.0, 0.0]))  # always predicts class 0
    acc = trainer.test(split="val")
    assert acc == pytest.approx(100 / 3)
    trainer.test()
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["split"] == "test" and results["correct"] == 5 and results["total"] == 15
    assert results["history"] == [{"epoch": None, "split": "val", "accuracy": pytest.approx(100 / 3)}]
    wrong = json.loads((tmp_path / "wrong_predictions.json").read_text())
    assert len(wrong["wrong"]) == 10 and all(w["pred"] == 0 and w["true"] != 0 for w in wrong["wrong"])
    assert all(w["impath"].endswith(".png") for w in wrong["wrong"])
    idx = wrong["wrong"][0]["index"]
    assert trainer.dm.dataset.test[idx].impath == wrong["wrong"][0]["impath"]


def test_results_files_can_be_switched_off(root, tmp_path):
    trainer = build_trainer(tiny_cfg(root, tmp_path, "TEST.WRITE_RESULTS", "False"))
    trainer.test()
    assert not (tmp_path / "results.json").exists()


def test_evaluator_with_upstream_process_signature(root, tmp_path):
    trainer = build_trainer(tiny_cfg(root, tmp_path))
    seen = []

    class Upstream:
        def reset(self):
            seen.clear()

        def process(self, mo, gt):
            seen.append(gt.shape[0])

        def evaluate(self):
            return {"accuracy": 50.0}

    trainer.evaluator = Upstream()
    assert trainer.test() == 50.0 and sum(seen) == 15
    assert json.loads((tmp_path / "results.json").read_text())["accuracy"] == 50.0


def test_split_class_names_are_read_once_per_split(root, tmp_path, monkeypatch):
    import dassl.engine.trainer as trainer_module

    calls = []
    original = trainer_module.split_classes

    def counting(items, dataset=None):
        calls.append(len(items))
        return original(items, dataset)

    monkeypatch.setattr(trainer_module, "split_classes", counting)
    trainer = build_trainer(tiny_cfg(root, tmp_path, "TEST.PER_CLASS_RESULT", "True"))
    for _ in range(3):
        trainer.test(split="val")
    trainer.test()
    trainer.test()
    assert calls == [len(trainer.dm.dataset.val), len(trainer.dm.dataset.test)]
    summary = json.loads((tmp_path / "results.json").read_text())
    assert [c["classname"] for c in summary["per_class"]] == [trainer.lab2cname[i] for i in range(3)]
