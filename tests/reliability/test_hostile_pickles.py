"""Point 1: a checkpoint, few-shot cache or prototype file whose pickle runs code must not run it.

Each hostile file, when unpickled with full pickle, creates ``marker``; every load path must refuse the
file with an error that names it and the opt-in key, and the marker must not appear.
"""

import pickle
from types import SimpleNamespace

import pytest
import tiny_run
import torch

import train
from dassl.utils import UnsafeFileError, load_checkpoint


class _CreatesFile:
    """Unpickling this calls ``open(path, "w")``: it stands for any command a file could run."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def hostile_checkpoint(path, marker):
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"state_dict": {"fc.weight": torch.zeros(3, 192)}, "epoch": 1, "optimizer": None,
             "scheduler": None, "val_result": _CreatesFile(marker)}
    torch.save(state, path)
    return path


def assert_refused(excinfo, path, marker):
    message = str(excinfo.value)
    assert str(path) in message and "ALLOW_UNSAFE_PICKLE" in message, message
    assert "weights_only=False" not in message
    assert not marker.exists(), "the hostile pickle ran"


def test_load_checkpoint_refuses(tmp_path):
    marker = tmp_path / "marker"
    path = hostile_checkpoint(tmp_path / "model.pth.tar-1", marker)
    with pytest.raises(UnsafeFileError) as excinfo:
        load_checkpoint(str(path))
    assert_refused(excinfo, path, marker)


def test_eval_only_model_dir_refuses(tmp_path, data_root):
    marker = tmp_path / "marker"
    path = hostile_checkpoint(tmp_path / "model" / "tiny_model" / "model-best.pth.tar", marker)
    argv = tiny_run.tiny_argv(data_root, tmp_path / "out", flags=["--eval-only", "--model-dir",
                                                                   str(tmp_path / "model")])
    with pytest.raises(UnsafeFileError) as excinfo:
        train.main(argv)
    assert_refused(excinfo, path, marker)


@pytest.mark.parametrize("via_flag", [False, True], ids=["automatic", "--resume"])
def test_resume_refuses(tmp_path, data_root, via_flag):
    marker = tmp_path / "marker"
    folder = tmp_path / ("elsewhere" if via_flag else "out")
    path = hostile_checkpoint(folder / "tiny_model" / "model.pth.tar-1", marker)
    (folder / "tiny_model" / "checkpoint").write_text("model.pth.tar-1\n")
    flags = ["--resume", str(folder)] if via_flag else []
    with pytest.raises(UnsafeFileError) as excinfo:
        train.main(tiny_run.tiny_argv(data_root, tmp_path / "out", flags=flags))
    assert_refused(excinfo, path, marker)


def test_opt_in_loads_a_trusted_legacy_file(tmp_path):
    """The explicit opt-in is the only way such a file loads (here the 'code' is harmless)."""
    from dassl.utils import unsafe_pickle_allowed

    marker = tmp_path / "marker"
    path = hostile_checkpoint(tmp_path / "trusted.pth.tar", marker)
    with unsafe_pickle_allowed(True), pytest.warns(UserWarning, match="ALLOW_UNSAFE_PICKLE"):
        load_checkpoint(str(path))
    assert marker.exists()


def test_promptkd_teacher_checkpoint_refuses(tmp_path, toy_weights_dir):
    from test_promptkd import CLASSES, toy_cfg

    import trainers.promptkd as promptkd

    marker = tmp_path / "marker"
    path = hostile_checkpoint(tmp_path / "teacher.pth.tar", marker)
    with pytest.raises(UnsafeFileError) as excinfo:
        promptkd.build_teacher(toy_cfg(toy_weights_dir, tmp_path), CLASSES, "cpu", "fp32",
                               checkpoint=str(path))
    assert_refused(excinfo, path, marker)


def test_capt_stage1_checkpoint_refuses(tmp_path, toy_weights_dir):
    """SPLE.BACK_CKPT_PATH: the stage-1 student is read through ``load_promptkd_run``."""
    from test_promptkd import CLASSES, toy_cfg, write_upstream_teacher

    import trainers.promptkd as promptkd

    teacher = tmp_path / "teacher.pth.tar"
    write_upstream_teacher(teacher, toy_weights_dir, CLASSES[:5])
    marker = tmp_path / "marker"
    path = hostile_checkpoint(tmp_path / "stage1" / promptkd.STUDENT_FOLDER / "model-best.pth.tar", marker)
    with pytest.raises(UnsafeFileError) as excinfo:
        promptkd.load_promptkd_run(toy_cfg(toy_weights_dir, tmp_path), str(tmp_path / "stage1"),
                                   classnames=CLASSES, teacher_checkpoint=str(teacher))
    assert_refused(excinfo, path, marker)


def test_fewshot_cache_refuses(tmp_path):
    from datasets.splits import load_or_create_fewshot

    marker = tmp_path / "marker"
    path = tmp_path / "split_fewshot" / "shot_1-seed_1.pkl"
    path.parent.mkdir()
    path.write_bytes(pickle.dumps({"train": [_CreatesFile(marker)], "val": []}))
    with pytest.raises(UnsafeFileError) as excinfo:
        load_or_create_fewshot(str(path), [], [], 1, str(tmp_path))
    assert str(path) in str(excinfo.value) and "rebuilt" in str(excinfo.value)
    assert not marker.exists(), "the hostile pickle ran"


def test_dapt_prototype_file_refuses(tmp_path):
    from trainers.dapt import DAPT, prototype_path

    marker = tmp_path / "marker"
    dataset = SimpleNamespace(split_fewshot_dir=str(tmp_path), classnames=["a", "b"])
    cfg = SimpleNamespace(DATASET=SimpleNamespace(NUM_SHOTS=1), SEED=1)
    path = prototype_path(dataset, 1, 1)
    with open(path, "wb") as f:
        pickle.dump(_CreatesFile(marker), f)
    fake = SimpleNamespace(cfg=cfg, dm=SimpleNamespace(dataset=dataset))
    with pytest.raises(UnsafeFileError) as excinfo:
        DAPT.load_prototypes(fake)
    assert str(path) in str(excinfo.value)
    assert not marker.exists(), "the hostile pickle ran"


def test_legitimate_legacy_files_still_load(tmp_path):
    """Checkpoints of the original Dassl (pickled scheduler successor with its optimizer, numpy scalar
    val_result) and pickled prototype tensors load without the opt-in."""
    import numpy as np

    from dassl.utils import load_tensor_pickle

    param = torch.nn.Parameter(torch.zeros(3))
    optim = torch.optim.SGD([param], lr=0.1, momentum=0.9)
    successor = torch.optim.lr_scheduler.CosineAnnealingLR(optim, 10)
    optim.step()
    successor.step()
    state = {"state_dict": {"w": torch.ones(2)}, "epoch": 3, "optimizer": optim.state_dict(),
             "scheduler": {"successor": successor, "last_epoch": 2}, "val_result": np.float64(71.5)}
    torch.save(state, tmp_path / "model-best.pth.tar")
    loaded = load_checkpoint(str(tmp_path / "model-best.pth.tar"))
    assert loaded["scheduler"]["successor"].last_epoch == 1 and float(loaded["val_result"]) == 71.5
    prototypes = torch.randn(4, 6)
    with open(tmp_path / "proto.pkl", "wb") as f:
        pickle.dump(prototypes, f)
    assert torch.equal(load_tensor_pickle(str(tmp_path / "proto.pkl")), prototypes)
