"""Point 2: a run killed part-way is never reported as finished, by the demo, the sweep or parse_results.

A best_val run evaluates (and rewrites results.json) after every epoch; on a dataset without a validation
split that evaluation is on the test split, which is what a finished run leaves too. The kill is a SIGKILL
stand-in: the trainer raises before epoch 3 and the traceback file is removed (a killed process writes
none).
"""

import json
from pathlib import Path

import pytest
import tiny_run

import train
from dassl.data.datasets import DATASET_REGISTRY
from tools import demo, parse_results, sweep


@DATASET_REGISTRY.register()
class TinyColorsNoVal(tiny_run.TinyColors):
    """TinyColors without a validation split (like ImageNet)."""

    def __init__(self, cfg):
        super().__init__(cfg)
        self._val = None


def killed_best_val_run(data_root, out, monkeypatch):
    argv = tiny_run.tiny_argv(data_root, out, "TEST.FINAL_MODEL", "best_val",
                              "DATASET.NAME", "TinyColorsNoVal", epochs=3)
    monkeypatch.setattr(tiny_run.TinyLinear, "stop_before_epoch", 2)
    with pytest.raises(KeyboardInterrupt):
        train.main(argv)
    (Path(out) / "exceptions.txt").unlink()
    assert json.loads((Path(out) / "results.json").read_text())["split"] == "test"
    monkeypatch.setattr(tiny_run.TinyLinear, "stop_before_epoch", None)
    return argv


def test_killed_best_val_run_is_not_finished_anywhere(tmp_path, data_root, monkeypatch):
    out = tmp_path / "output" / "train_base" / "tiny" / "seed1"
    argv = killed_best_val_run(data_root, out, monkeypatch)
    assert not sweep.is_finished(str(out))
    stage = demo.Stage(name="train_base/tiny/seed1", trainer="TinyLinear", config="unused.yaml")
    assert not stage.done(tmp_path / "output")
    runs, notes = parse_results.collect_runs(str(tmp_path / "output"))
    assert runs == [] and any("seed1" in n for n in notes)
    # re-running the same command resumes and finishes it; then everyone agrees
    train.main(argv)
    assert sweep.is_finished(str(out)) and stage.done(tmp_path / "output")
