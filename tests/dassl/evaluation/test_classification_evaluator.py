"""The Classification evaluator: exact result block, metrics, wrong predictions."""

import pytest
import torch

from dassl.config import extend_cfg, get_cfg_default
from dassl.evaluation import build_evaluator, confusion_matrix, macro_f1_score


def logits_for(preds, num_classes=3):
    out = torch.zeros(len(preds), num_classes)
    out[torch.arange(len(preds)), torch.tensor(preds)] = 1.0
    return out


def make(tmp_path=None, **test_opts):
    cfg = extend_cfg(get_cfg_default())
    cfg.TEST.update(test_opts)
    if tmp_path is not None:
        cfg.OUTPUT_DIR = str(tmp_path)
    return build_evaluator(cfg, lab2cname={0: "cat", 1: "dog", 2: "fox"})


def test_exact_result_block(capsys):
    ev = make()
    capsys.readouterr()
    # 1,000 correct of 1,234 (labels 0/1, class 2 never predicted).
    gt = torch.tensor([0] * 1000 + [1] * 234)
    pred = [0] * 1000 + [0] * 234
    ev.process(logits_for(pred), gt)
    res = ev.evaluate()
    out = capsys.readouterr().out
    f1 = 100 * macro_f1_score(gt.tolist(), pred)
    assert out == (
        "=> result\n* total: 1,234\n* correct: 1,000\n* accuracy: 81.0%\n* error: 19.0%\n"
        f"* macro_f1: {f1:.1f}%\n"
    )
    assert list(res) == ["accuracy", "error_rate", "macro_f1"]
    assert res["accuracy"] == pytest.approx(100000 / 1234)


def test_two_decimals_switch(capsys):
    ev = make(DECIMALS=2)
    ev.process(logits_for([0, 1, 1]), torch.tensor([0, 1, 2]))
    ev.evaluate()
    assert "* accuracy: 66.67%" in capsys.readouterr().out


def test_macro_f1_counts_only_labels_present_in_truth():
    # label 2 is predicted but absent from y_true: it must not enter the mean.
    assert macro_f1_score([0, 0, 1, 1], [0, 2, 1, 1]) == pytest.approx((2 / 3 + 1.0) / 2)
    # a present label never predicted scores 0.
    assert macro_f1_score([0, 1], [0, 0]) == pytest.approx((2 / 3 + 0.0) / 2)


def test_per_class_block_and_cmat(tmp_path, capsys):
    ev = make(tmp_path, PER_CLASS_RESULT=True, COMPUTE_CMAT=True)
    ev.process(logits_for([0, 1, 0, 2]), torch.tensor([0, 1, 1, 2]))
    res = ev.evaluate()
    out = capsys.readouterr().out
    assert "=> per-class result" in out
    assert "* class: 1 (dog)\ttotal: 2\tcorrect: 1\tacc: 50.0%" in out
    assert "* average: 83.3%" in out and res["perclass_accuracy"] == pytest.approx(250 / 3)
    cmat = torch.load(tmp_path / "cmat.pt")
    assert torch.allclose(cmat[1], torch.tensor([0.5, 0.5, 0.0], dtype=cmat.dtype))
    assert "Confusion matrix is saved to" in out


def test_wrong_predictions_and_summary():
    ev = make()
    ev.process(logits_for([0, 2]), torch.tensor([0, 1]), impaths=["a.png", "b.png"])
    ev.process(logits_for([1]), torch.tensor([2]))  # upstream-style call without paths
    wrong = ev.wrong_predictions()
    assert wrong == [{"index": 1, "impath": "b.png", "true": 1, "pred": 2},
                     {"index": 2, "impath": None, "true": 2, "pred": 1}]
    summary = ev.summary()
    assert summary["total"] == 3 and summary["correct"] == 1
    assert [c["classname"] for c in summary["per_class"]] == ["cat", "dog", "fox"]
    with pytest.raises(ValueError, match="image paths"):
        ev.process(logits_for([0]), torch.tensor([0]), impaths=["x", "y"])


def test_tuple_outputs_and_empty_evaluation():
    ev = make()
    with pytest.raises(RuntimeError, match="Nothing to evaluate"):
        ev.evaluate()
    ev.process((logits_for([1]), torch.zeros(1, 4)), torch.tensor([1]))
    assert ev.evaluate()["accuracy"] == 100.0


def test_confusion_matrix_counts():
    assert confusion_matrix([0, 1, 1], [0, 0, 1]).tolist() == [[1.0, 0.0], [1.0, 1.0]]


def test_unknown_evaluator_name():
    cfg = get_cfg_default()
    cfg.TEST.EVALUATOR = "Clasification"
    with pytest.raises(ValueError, match="Classification"):
        build_evaluator(cfg)


def test_set_class_names_renames_the_per_class_rows():
    ev = make()
    ev.set_class_names({0: "shirt", 1: "coat"})
    ev.process(logits_for([0, 0], num_classes=2), torch.tensor([0, 1]))
    assert [row["classname"] for row in ev.per_class()] == ["shirt", "coat"]
    ev.set_class_names(None)
    assert [row["classname"] for row in ev.per_class()] == ["0", "1"]
