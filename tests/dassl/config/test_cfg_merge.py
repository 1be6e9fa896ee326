"""Checked merging of YAML files and KEY VALUE lists."""

import pytest

from dassl.config import ConfigKeyError, get_cfg_default, merge_cfg_from_file, merge_cfg_from_list


def test_yaml_values_are_literal_evaluated(tmp_path):
    f = tmp_path / "a.yaml"
    f.write_text("OPTIM:\n  WARMUP_CONS_LR: 1e-5\nINPUT:\n  SIZE: (32, 32)\n")
    cfg = merge_cfg_from_file(get_cfg_default(), str(f))
    assert cfg.OPTIM.WARMUP_CONS_LR == 1e-5 and cfg.INPUT.SIZE == (32, 32)


def test_base_files_are_merged_first(tmp_path):
    (tmp_path / "base.yaml").write_text("OPTIM:\n  LR: 0.1\n  MAX_EPOCH: 3\n")
    (tmp_path / "child.yaml").write_text("_BASE_: base.yaml\nOPTIM:\n  MAX_EPOCH: 7\n")
    cfg = merge_cfg_from_file(get_cfg_default(), str(tmp_path / "child.yaml"))
    assert cfg.OPTIM.LR == 0.1 and cfg.OPTIM.MAX_EPOCH == 7


def test_base_cycle_is_reported(tmp_path):
    (tmp_path / "a.yaml").write_text("_BASE_: b.yaml\n")
    (tmp_path / "b.yaml").write_text("_BASE_: a.yaml\n")
    with pytest.raises(ValueError, match="includes itself"):
        merge_cfg_from_file(get_cfg_default(), str(tmp_path / "a.yaml"))


def test_unknown_key_suggests_same_leaf_under_another_node(tmp_path):
    f = tmp_path / "wrong.yaml"
    f.write_text("TRAIN:\n  MAX_EPOCH: 3\n")
    with pytest.raises(ConfigKeyError) as err:
        merge_cfg_from_file(get_cfg_default(), str(f))
    assert "TRAIN.MAX_EPOCH" in str(err.value) and "OPTIM.MAX_EPOCH" in str(err.value)
    assert "wrong.yaml" in str(err.value)


def test_type_mismatch_names_the_file(tmp_path):
    f = tmp_path / "typed.yaml"
    f.write_text("OPTIM:\n  MAX_EPOCH: ten\n")
    with pytest.raises(ValueError, match="typed.yaml"):
        merge_cfg_from_file(get_cfg_default(), str(f))


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        merge_cfg_from_file(get_cfg_default(), str(tmp_path / "nope.yaml"))


def test_merge_from_list_errors():
    cfg = get_cfg_default()
    with pytest.raises(ValueError, match="odd number"):
        merge_cfg_from_list(cfg, ["OPTIM.LR"])
    with pytest.raises(ConfigKeyError, match="OPTIM.NAME"):
        merge_cfg_from_list(cfg, ["OPTIM.NAMEE", "sgd"])
    with pytest.raises(ValueError, match="is a node"):
        merge_cfg_from_list(cfg, ["OPTIM", "1"])
    merge_cfg_from_list(cfg, ["OPTIM.NAME", "sgd", "INPUT.TRANSFORMS", "['normalize']"])
    assert cfg.OPTIM.NAME == "sgd" and list(cfg.INPUT.TRANSFORMS) == ["normalize"]
