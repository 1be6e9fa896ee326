"""Points 4 and 5: one folder holds one run, made with one config, and an evaluation follows its model.

- a second run into a folder in use stops at once, naming the pid that holds it;
- re-running into a finished folder with another config is refused, naming the keys that differ;
- an evaluation-only run stops being finished when the model it evaluated is trained again.
"""

import os
import shutil

import pytest
import tiny_run

import train
from dassl.run_state import FolderInUse, RunConfigMismatch, RunLock
from tools import sweep


def test_second_run_into_a_folder_in_use_stops(tmp_path, data_root):
    out = tmp_path / "run"
    with RunLock(str(out)), pytest.raises(FolderInUse, match=f"another run, pid {os.getpid()}"):
        train.main(tiny_run.tiny_argv(data_root, out, epochs=1))
    assert not (out / "log.txt").exists()
    train.main(tiny_run.tiny_argv(data_root, out, epochs=1))  # free again once the holder is gone


def test_rerun_with_another_config_is_refused(tmp_path, data_root):
    out = tmp_path / "run"
    train.main(tiny_run.tiny_argv(data_root, out, epochs=1))
    with pytest.raises(RunConfigMismatch, match=r"OPTIM.LR: 0.05 -> 0.5"):
        train.main(tiny_run.tiny_argv(data_root, out, "OPTIM.LR", "0.5", epochs=1))
    assert sweep.is_finished(str(out))  # the refused run changed nothing
    train.main(tiny_run.tiny_argv(data_root, out, "OPTIM.LR", "0.5", epochs=1,
                                  flags=["--accept-config-change"]))


def test_evaluation_of_a_retrained_model_is_stale(tmp_path, data_root):
    model, evaluation = tmp_path / "model", tmp_path / "eval"
    train.main(tiny_run.tiny_argv(data_root, model, epochs=1))
    eval_argv = tiny_run.tiny_argv(data_root, evaluation, flags=["--eval-only", "--model-dir", str(model),
                                                                  "--load-epoch", "1"])
    train.main(eval_argv)
    assert sweep.is_finished(str(evaluation))
    shutil.rmtree(model)  # trained again from scratch
    train.main(tiny_run.tiny_argv(data_root, model, epochs=1, seed=2))
    assert not sweep.is_finished(str(evaluation))
    train.main(eval_argv)
    assert sweep.is_finished(str(evaluation))
