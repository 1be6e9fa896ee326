"""Where the PromptKD teacher checkpoint is looked for: TEACHER_ROOT as upstream, or TEACHER_CKPT."""

import pytest
from yacs.config import CfgNode

from trainers.common import teacher


def test_teacher_path_prefers_best_then_falls_back_to_last_epoch(tmp_path, capsys):
    folder = tmp_path / "Caltech101" / "VLPromptLearner"
    folder.mkdir(parents=True)
    with pytest.raises(FileNotFoundError) as err:
        teacher.teacher_checkpoint_path(str(tmp_path), "Caltech101", "base2novel")
    message = str(err.value)
    assert str(folder / "model-best.pth.tar") in message
    assert "PromptSRC" in message and "scripts/promptkd/train_teacher.sh" in message
    for name in ("model.pth.tar-2", "model.pth.tar-10", "checkpoint"):
        (folder / name).write_text("x")
    assert teacher.teacher_checkpoint_path(str(tmp_path), "Caltech101", "base2novel") == str(
        folder / "model.pth.tar-10"
    )
    assert "using the last-epoch file" in capsys.readouterr().out
    (folder / "model-best.pth.tar").write_text("x")
    assert teacher.teacher_checkpoint_path(str(tmp_path), "Caltech101", "base2novel") == str(
        folder / "model-best.pth.tar"
    )
    cross = tmp_path / "ImageNet-xd" / "VLPromptLearner_large"
    cross.mkdir(parents=True)
    (cross / "model.pth.tar-20").write_text("x")
    assert teacher.teacher_checkpoint_path(str(tmp_path), "Caltech101", "cross") == str(
        cross / "model.pth.tar-20"
    )
    with pytest.raises(ValueError, match="TRAINER.MODAL"):
        teacher.teacher_checkpoint_path(str(tmp_path), "Caltech101", "b2n")


def test_teacher_ckpt_key_takes_a_file_or_a_run_folder(tmp_path):
    node = CfgNode({"TEACHER_ROOT": str(tmp_path / "unused"), "TEACHER_CKPT": ""})
    with pytest.raises(FileNotFoundError, match="unused"):
        teacher.resolve_teacher_checkpoint(node, "Caltech101", "base2novel")
    run_dir = tmp_path / "promptsrc_run"
    node.TEACHER_CKPT = str(run_dir)
    with pytest.raises(FileNotFoundError, match="TEACHER_CKPT"):
        teacher.resolve_teacher_checkpoint(node, "Caltech101", "base2novel")
    (run_dir / "VLPromptLearner").mkdir(parents=True)
    for name in ("model.pth.tar-3", "model.pth.tar-12"):
        (run_dir / "VLPromptLearner" / name).write_text("x")
    assert teacher.resolve_teacher_checkpoint(node, "Caltech101", "cross") == str(
        run_dir / "VLPromptLearner" / "model.pth.tar-12"
    )
    node.TEACHER_CKPT = str(run_dir / "VLPromptLearner" / "model.pth.tar-3")
    assert teacher.resolve_teacher_checkpoint(node, "Caltech101", "base2novel") == node.TEACHER_CKPT


@pytest.mark.parametrize("name, alias", [("FGVCAircraft", "FGVCaircraft"), ("StanfordCars", "StandfordCars")])
def test_release_folder_spellings_are_accepted_with_a_note(tmp_path, capsys, name, alias):
    with pytest.raises(FileNotFoundError) as err:
        teacher.teacher_checkpoint_path(str(tmp_path), name, "base2novel")
    assert str(tmp_path / alias / "VLPromptLearner") in str(err.value)
    released = tmp_path / alias / "VLPromptLearner" / "model-best.pth.tar"
    released.parent.mkdir(parents=True)
    released.write_text("x")
    assert teacher.teacher_checkpoint_path(str(tmp_path), name, "base2novel") == str(released)
    note = capsys.readouterr().out
    assert f"alias {alias!r}" in note and str(released) in note
    # the DATASET.NAME folder wins when it holds a checkpoint (here only a last-epoch file)
    ours = tmp_path / name / "VLPromptLearner" / "model.pth.tar-20"
    ours.parent.mkdir(parents=True)
    ours.write_text("x")
    assert teacher.teacher_checkpoint_path(str(tmp_path), name, "base2novel") == str(ours)
    assert "alias" not in capsys.readouterr().out


def test_aliases_apply_only_to_their_dataset(tmp_path):
    (tmp_path / "FGVCaircraft" / "VLPromptLearner").mkdir(parents=True)
    (tmp_path / "FGVCaircraft" / "VLPromptLearner" / "model-best.pth.tar").write_text("x")
    with pytest.raises(FileNotFoundError):
        teacher.teacher_checkpoint_path(str(tmp_path), "StanfordCars", "base2novel")
    with pytest.raises(FileNotFoundError):
        teacher.teacher_checkpoint_path(str(tmp_path), "FGVCAircraft", "cross")
