"""Stage 2 reads the stage-1 settings from stage 1's run_config.json: taken when stage 2 leaves a key at its
default, an error naming both values when it sets another, today's keys when the record is absent."""

import json

import pytest

from trainers.capt.stage1_config import stage1_cfg


def stage2_cfg(**promptkd):
    from dassl.config import extend_cfg, get_cfg_default

    cfg = extend_cfg(get_cfg_default())
    for key, value in promptkd.items():
        setattr(cfg.TRAINER.PROMPTKD, key, value)
    cfg.freeze()
    return cfg


def write_record(folder, **keys):
    (folder / "run_config.json").write_text(json.dumps(keys))


def test_keys_left_at_their_default_come_from_stage1(tmp_path):
    write_record(tmp_path, **{"TRAINER.PROMPTKD.TEACHER_NAME": "ToyViT-L", "INPUT.SIZE": [32, 32],
                              "OPTIM.LR": 0.5})
    cfg = stage2_cfg()
    out = stage1_cfg(cfg, str(tmp_path))
    assert out.TRAINER.PROMPTKD.TEACHER_NAME == "ToyViT-L" and tuple(out.INPUT.SIZE) == (32, 32)
    assert out.OPTIM.LR == cfg.OPTIM.LR  # only the keys that rebuild stage 1 are read
    assert cfg.TRAINER.PROMPTKD.TEACHER_NAME == "ViT-L/14"  # the stage-2 config itself is not changed


def test_a_contradicting_stage2_key_is_an_error_naming_both_values(tmp_path):
    write_record(tmp_path, **{"TRAINER.PROMPTKD.TEACHER_DEPTH": 2})
    with pytest.raises(ValueError, match=r"TEACHER_DEPTH: stage 1 ran with 2, stage 2 sets 5"):
        stage1_cfg(stage2_cfg(TEACHER_DEPTH=5), str(tmp_path))
    assert stage1_cfg(stage2_cfg(TEACHER_DEPTH=2), str(tmp_path)).TRAINER.PROMPTKD.TEACHER_DEPTH == 2


def test_without_a_record_stage2_keys_are_used(tmp_path):
    cfg = stage2_cfg(TEACHER_DEPTH=5)
    assert stage1_cfg(cfg, str(tmp_path)) is cfg


def test_an_unreadable_record_names_the_file(tmp_path):
    (tmp_path / "run_config.json").write_text("{not json")
    with pytest.raises(ValueError, match="run_config.json"):
        stage1_cfg(stage2_cfg(), str(tmp_path))
