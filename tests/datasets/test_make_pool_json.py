"""tools/make_pool_json.py: the SPLE_<Name>.json writer."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from dataset_trees import make_cfg

from datasets.pool import pool_from_cfg
from datasets.synthetic import BUILDERS
from tools import make_pool_json

REPO = Path(__file__).resolve().parents[2]


def test_writes_pool_from_a_dataset_config_file(data_root, tmp_path, capsys):
    BUILDERS["Caltech101"](data_root)
    out_dir = tmp_path / "SPLE_database"
    path = make_pool_json.main(
        [
            "--root",
            str(data_root),
            "--dataset-config-file",
            str(REPO / "configs" / "datasets" / "caltech101.yaml"),
            "--output",
            str(out_dir) + "/",
        ]
    )
    assert path == str(out_dir / "SPLE_Caltech101.json")
    written = json.loads(Path(path).read_text())
    assert written == pool_from_cfg(make_cfg(data_root, "Caltech101"))
    assert set(written) == {"train", "val", "train_obj_list", "val_obj_list"}
    assert "6 classes, 30 train and 12 val images" in capsys.readouterr().out


def test_dataset_name_and_explicit_file(data_root, tmp_path):
    BUILDERS["Food101"](data_root)
    target = tmp_path / "pool.json"
    assert make_pool_json.main(
        ["--root", str(data_root), "--dataset", "Food101", "--output", str(target)]
    ) == str(target)
    assert json.loads(target.read_text())["train_obj_list"][0] == "apple_pie"


def test_default_output_path():
    assert make_pool_json.resolve_output(None, "UCF101") == str(
        Path("DATA") / "SPLE_database" / "SPLE_UCF101.json"
    )


def test_cli_errors(data_root, tmp_path):
    with pytest.raises(SystemExit):
        make_pool_json.main(["--root", str(data_root)])  # neither --dataset nor --dataset-config-file
    with pytest.raises(FileNotFoundError, match="Dataset config file not found"):
        make_pool_json.main(["--root", str(data_root), "--dataset-config-file", str(tmp_path / "no.yaml")])
    with pytest.raises(FileNotFoundError, match="DATASETS.md"):
        make_pool_json.main(
            ["--root", str(data_root), "--dataset", "Food101", "--output", str(tmp_path / "p.json")]
        )


def test_runs_as_a_script(data_root, tmp_path):
    BUILDERS["DescribableTextures"](data_root)
    target = tmp_path / "p.json"
    args = ["--root", str(data_root), "--dataset", "DescribableTextures", "--output", str(target)]
    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "make_pool_json.py"), *args], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(target.read_text())["val_obj_list"] == ["banded", "blotchy", "braided"]


def test_cache_dir_finds_the_split_the_runs_generated(data_root, tmp_path, capsys):
    from dataset_trees import build

    BUILDERS["Food101"](data_root)
    cache = tmp_path / "cache"
    run = build(data_root, "Food101", cache_dir=cache)  # a run generated the split into the cache folder
    capsys.readouterr()
    path = make_pool_json.main(["--root", str(data_root), "--dataset", "Food101", "--cache-dir", str(cache),
                                "--output", str(tmp_path / "pool.json")])
    assert f"Using the GENERATED split {cache / 'food-101' / 'split_generated_Food101.json'}" in (
        capsys.readouterr().out)
    pool = json.loads(Path(path).read_text())
    assert sum(len(rels) for _, rels in pool["train"][0].values()) == len(run.train_x)
    assert not list((data_root / "food-101").glob("split_*.json"))  # the data tree was left alone
