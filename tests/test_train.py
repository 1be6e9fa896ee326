"""End-to-end tests of ``train.py`` on a tiny synthetic image dataset (CPU, seconds)."""

import importlib
import json
import re
import runpy
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "tests" / "dassl"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

train = importlib.import_module("train")
tiny_run = importlib.import_module("tiny_run")
hooks = importlib.import_module("dassl.config.hooks")
ConfigKeyError = importlib.import_module("dassl.config").ConfigKeyError


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tiny_run.make_image_tree(str(tmp_path_factory.mktemp("tiny_data")))


def read_log(output_dir):
    return (Path(output_dir) / "log.txt").read_text()


def weights(output_dir, fname, name="tiny_model"):
    ckpt = torch.load(Path(output_dir) / name / fname, map_location="cpu", weights_only=True)
    return ckpt["state_dict"]


# ------------------------------------------------------------------ config


@pytest.fixture
def order_hook(monkeypatch):
    """A hook-owned key, removed again after the test."""
    monkeypatch.setattr(hooks, "_HOOKS", dict(hooks._HOOKS))

    @hooks.cfg_hook
    def add_order_test_cfg(cfg):
        hooks.add_cfg_node(cfg, "TRAINER.ORDER_TEST", {"VALUE": "hook"})


def _yaml(path, text):
    path.write_text(text)
    return str(path)


def test_merge_order_later_sources_win(tmp_path, order_hook):
    template = "OUTPUT_DIR: {v}\nOPTIM:\n  MAX_EPOCH: {e}\nTRAINER:\n  ORDER_TEST:\n    VALUE: {v}\n"
    ds = _yaml(tmp_path / "ds.yaml", template.format(v="ds", e=11))
    tr = _yaml(tmp_path / "tr.yaml", template.format(v="tr", e=12))

    def cfg_for(*argv):
        return train.setup_cfg(train.parse_args(list(argv)))

    cfg = cfg_for()
    assert (cfg.OPTIM.MAX_EPOCH, cfg.TRAINER.ORDER_TEST.VALUE, cfg.OUTPUT_DIR) == (10, "hook", "./output")
    cfg = cfg_for("--dataset-config-file", ds)
    assert (cfg.OPTIM.MAX_EPOCH, cfg.TRAINER.ORDER_TEST.VALUE, cfg.OUTPUT_DIR) == (11, "ds", "ds")
    cfg = cfg_for("--dataset-config-file", ds, "--config-file", tr)
    assert (cfg.OPTIM.MAX_EPOCH, cfg.TRAINER.ORDER_TEST.VALUE, cfg.OUTPUT_DIR) == (12, "tr", "tr")
    cfg = cfg_for("--dataset-config-file", ds, "--config-file", tr, "--output-dir", "flag")
    assert cfg.OUTPUT_DIR == "flag" and cfg.OPTIM.MAX_EPOCH == 12
    cfg = cfg_for(
        "--dataset-config-file", ds, "--config-file", tr, "--output-dir", "flag",
        "OUTPUT_DIR", "opts", "OPTIM.MAX_EPOCH", "13", "TRAINER.ORDER_TEST.VALUE", "opts",
    )
    assert (cfg.OPTIM.MAX_EPOCH, cfg.TRAINER.ORDER_TEST.VALUE, cfg.OUTPUT_DIR) == (13, "opts", "opts")
    assert cfg.is_frozen()


def test_unknown_key_in_yaml_names_key_file_and_suggestion(tmp_path):
    bad = _yaml(tmp_path / "bad.yaml", "OPTIM:\n  MAX_EPOCHS: 3\n")
    with pytest.raises(ConfigKeyError) as err:
        train.setup_cfg(train.parse_args(["--config-file", bad]))
    msg = str(err.value)
    assert "OPTIM.MAX_EPOCHS" in msg and "bad.yaml" in msg and "OPTIM.MAX_EPOCH" in msg.split("closest")[1]


def test_unknown_key_on_command_line_names_source_and_suggestion():
    with pytest.raises(ConfigKeyError) as err:
        train.setup_cfg(train.parse_args(["OPTIM.LRR", "0.1"]))
    msg = str(err.value)
    assert "OPTIM.LRR" in msg and "command line" in msg and "OPTIM.LR" in msg.split("closest")[1]


def test_seed_zero_is_honoured_and_absent_seed_keeps_yaml(tmp_path):
    assert train.setup_cfg(train.parse_args(["--seed", "0"])).SEED == 0
    assert train.setup_cfg(train.parse_args([])).SEED == -1
    seeded = _yaml(tmp_path / "seed.yaml", "SEED: 5\n")
    assert train.setup_cfg(train.parse_args(["--config-file", seeded])).SEED == 5
    assert train.setup_cfg(train.parse_args(["--config-file", seeded, "--seed", "0"])).SEED == 0


def test_deterministic_flag_sets_key():
    assert train.setup_cfg(train.parse_args([])).TRAIN.DETERMINISTIC is False
    assert train.setup_cfg(train.parse_args(["--deterministic"])).TRAIN.DETERMINISTIC is True


def test_unset_pixel_statistics_are_resolved_into_the_frozen_config(tmp_path):
    openai = ([0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711])
    cfg = train.setup_cfg(train.parse_args(["--backbone", "ViT-B/16"]))
    assert cfg.is_frozen() and (cfg.INPUT.PIXEL_MEAN, cfg.INPUT.PIXEL_STD) == openai
    # Dassl's own statistics when no backbone names CLIP weights.
    cfg = train.setup_cfg(train.parse_args([]))
    assert (cfg.INPUT.PIXEL_MEAN, cfg.INPUT.PIXEL_STD) == ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    # A YAML that sets them (as the published ones do) wins, and a KEY VALUE override wins over it.
    own = _yaml(tmp_path / "own.yaml", "INPUT:\n  PIXEL_MEAN: [0.5, 0.5, 0.5]\n"
                                       "  PIXEL_STD: [0.2, 0.2, 0.2]\n")
    cfg = train.setup_cfg(train.parse_args(["--backbone", "ViT-B/16", "--config-file", own]))
    assert (cfg.INPUT.PIXEL_MEAN, cfg.INPUT.PIXEL_STD) == ([0.5, 0.5, 0.5], [0.2, 0.2, 0.2])
    cfg = train.setup_cfg(train.parse_args(["--backbone", "ViT-B/16", "--config-file", own,
                                            "INPUT.PIXEL_STD", "[0.3, 0.3, 0.3]"]))
    assert (cfg.INPUT.PIXEL_MEAN, cfg.INPUT.PIXEL_STD) == ([0.5, 0.5, 0.5], [0.3, 0.3, 0.3])


# --------------------------------------------------------------- training


def test_two_epoch_run_writes_log_checkpoints_and_results(tmp_path, data_root):
    out = tmp_path / "run"
    stdout_before = sys.stdout
    trainer = train.main(tiny_run.tiny_argv(data_root, out, epochs=2))
    assert sys.stdout is stdout_before  # the log tee is undone after the run
    assert trainer.epoch == 1

    log = read_log(out)
    assert "Setting fixed seed: 1" in log
    assert re.search(r"^Device: CPU \(\d+ threads, torch \S+; USE_CUDA False\)$", log, re.MULTILINE)
    assert "Finish training" in log.splitlines()
    assert re.search(r"^\* accuracy: \d+\.\d%$", log, re.MULTILINE)
    final = re.findall(r"accuracy: (\d+\.\d*)%", log)[-1]
    assert re.search(r"^epoch \[2/2\] batch \[6/6\] time \S+ \(\S+\) data \S+ \(\S+\) loss \S+ \(\S+\) "
                     r"lr \d\.\d{4}e[-+]\d\d eta \d+:\d\d:\d\d$", log, re.MULTILINE)
    assert re.search(r"^Elapsed: \d+:\d\d:\d\d$", log, re.MULTILINE)

    assert (out / "tiny_model" / "model.pth.tar-2").is_file()
    assert not (out / "tiny_model" / "model.pth.tar-1").exists()  # CHECKPOINT_FREQ 0: last epoch only
    assert (out / "tiny_model" / "checkpoint").read_text().splitlines()[0] == "model.pth.tar-2"
    assert (out / "tensorboard").is_dir()

    results = json.loads((out / "results.json").read_text())
    assert results["split"] == "test" and results["trainer"] == "TinyLinear"
    assert results["dataset"] == "TinyColors" and results["seed"] == 1 and results["epoch"] == 2
    assert results["device"]["type"] == "cpu" and results["device"]["reason"] == "USE_CUDA False"
    assert results["total"] == 15 and f"{results['accuracy']:.1f}" == final
    assert results["correct"] == sum(c["correct"] for c in results["per_class"])
    assert [c["classname"] for c in results["per_class"]] == tiny_run.CLASSNAMES
    wrong = json.loads((out / "wrong_predictions.json").read_text())
    assert wrong["num_samples"] == 15 and wrong["classnames"] == tiny_run.CLASSNAMES
    assert len(wrong["wrong"]) == results["total"] - results["correct"]


def test_best_val_saves_best_and_deploys_it(tmp_path, data_root):
    out = tmp_path / "best"
    train.main(tiny_run.tiny_argv(data_root, out, "TEST.FINAL_MODEL", "best_val", epochs=2))
    log = read_log(out)
    assert "Evaluate on the *val* set" in log
    assert "Deploy the model with the best val performance" in log
    assert (out / "tiny_model" / "model-best.pth.tar").is_file()
    best = torch.load(out / "tiny_model" / "model-best.pth.tar", weights_only=True)
    assert isinstance(best["val_result"], float)
    history = json.loads((out / "results.json").read_text())["history"]
    assert [h["split"] for h in history] == ["val", "val"] and [h["epoch"] for h in history] == [1, 2]


def test_project_checkpoints_load_with_weights_only(tmp_path, data_root):
    out = tmp_path / "wo"
    train.main(tiny_run.tiny_argv(data_root, out, "TRAIN.CHECKPOINT_FREQ", "1", epochs=2))
    for fname in ("model.pth.tar-1", "model.pth.tar-2"):
        ckpt = torch.load(out / "tiny_model" / fname, weights_only=True)
        assert set(ckpt) >= {"state_dict", "epoch", "optimizer", "scheduler", "val_result"}
        assert ckpt["epoch"] == int(fname[-1]) and ckpt["val_result"] is None
        assert isinstance(ckpt["scheduler"]["successor"], dict)


def test_interrupted_then_resumed_run_matches_uninterrupted(tmp_path, data_root, monkeypatch):
    extra = ("TRAIN.CHECKPOINT_FREQ", "1")
    full = tmp_path / "full"
    train.main(tiny_run.tiny_argv(data_root, full, *extra, epochs=3))

    killed = tmp_path / "killed"
    monkeypatch.setattr(tiny_run.TinyLinear, "stop_before_epoch", 1)
    with pytest.raises(KeyboardInterrupt):
        train.main(tiny_run.tiny_argv(data_root, killed, *extra, epochs=3))
    assert "simulated kill" in (killed / "exceptions.txt").read_text()
    assert (killed / "tiny_model" / "model.pth.tar-1").is_file()
    assert not (killed / "tiny_model" / "model.pth.tar-2").exists()

    monkeypatch.setattr(tiny_run.TinyLinear, "stop_before_epoch", None)
    elsewhere = tmp_path / "elsewhere"  # --resume: continue the killed run into another folder
    train.main(tiny_run.tiny_argv(data_root, elsewhere, *extra, flags=["--resume", str(killed)], epochs=3))
    assert not (elsewhere / "tiny_model" / "model.pth.tar-1").exists()
    train.main(tiny_run.tiny_argv(data_root, killed, *extra, epochs=3))
    assert not (killed / "exceptions.txt").exists()
    resumed_log = sorted(killed.glob("log.txt-*"))
    assert resumed_log, "the second run must log into a new, timestamped file"
    assert "Found checkpoint at" in resumed_log[-1].read_text()

    a, b = weights(full, "model.pth.tar-3"), weights(killed, "model.pth.tar-3")
    c = weights(elsewhere, "model.pth.tar-3")
    assert a.keys() == b.keys() == c.keys()
    for key in a:
        assert torch.equal(a[key], b[key]) and torch.equal(a[key], c[key]), key
    # Sanity: the weights did move after the interruption point.
    assert not torch.equal(weights(killed, "model.pth.tar-1")["fc.weight"], b["fc.weight"])


def test_rerunning_a_finished_run_only_retests(tmp_path, data_root):
    out = tmp_path / "again"
    argv = tiny_run.tiny_argv(data_root, out, epochs=1)
    train.main(argv)
    before = weights(out, "model.pth.tar-1")
    train.main(argv)
    second_log = sorted(out.glob("log.txt-*"))[-1].read_text()
    assert "epoch [" not in second_log and "Finish training" in second_log
    assert "* accuracy:" in second_log
    after = weights(out, "model.pth.tar-1")
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_eval_only_with_model_dir_and_load_epoch(tmp_path, data_root):
    src = tmp_path / "src"
    train.main(tiny_run.tiny_argv(data_root, src, trainer="TinyPrompt", epochs=2))
    out = tmp_path / "eval"
    trainer = train.main(
        tiny_run.tiny_argv(
            data_root,
            out,
            flags=["--eval-only", "--model-dir", str(src), "--load-epoch", "2"],
            trainer="TinyPrompt",
        )
    )
    log = read_log(out)
    assert "Delete key token_prefix from checkpoint" in log
    assert f'Loading weights to tiny_model from "{src / "tiny_model" / "model.pth.tar-2"}" (epoch = 2)' in log
    assert "epoch [" not in log and "* accuracy:" in log
    assert torch.equal(trainer.model.fc.weight, weights(src, "model.pth.tar-2")["fc.weight"])
    assert json.loads((out / "results.json").read_text())["epoch"] == 2


def test_eval_only_without_model_dir_tests_the_built_model(tmp_path, data_root):
    out = tmp_path / "zs"
    train.main(tiny_run.tiny_argv(data_root, out, flags=["--eval-only"], epochs=2))
    log = read_log(out)
    assert "load_model() is skipped" in log and "* accuracy:" in log
    assert not (out / "tiny_model").exists()
    assert json.loads((out / "results.json").read_text())["epoch"] is None


def test_no_train_builds_without_training(tmp_path, data_root):
    out = tmp_path / "nt"
    train.main(tiny_run.tiny_argv(data_root, out, flags=["--no-train"], epochs=2))
    log = read_log(out)
    assert "Loading trainer: TinyLinear" in log and "epoch [" not in log and "Finish training" not in log


def test_failure_writes_exceptions_txt(tmp_path, data_root):
    out = tmp_path / "fail"
    with pytest.raises(FileNotFoundError):
        train.main(tiny_run.tiny_argv(data_root, out, flags=["--model-dir", str(tmp_path / "nowhere")]))
    text = (out / "exceptions.txt").read_text()
    assert "Traceback" in text and "FileNotFoundError" in text


def test_deterministic_run_restores_global_torch_flags(tmp_path, data_root):
    before = torch.are_deterministic_algorithms_enabled()
    train.main(tiny_run.tiny_argv(data_root, tmp_path / "det", flags=["--deterministic"], epochs=1))
    assert "deterministic: True" in read_log(tmp_path / "det")
    assert torch.are_deterministic_algorithms_enabled() == before


def test_cli_reports_unknown_key_as_a_message(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["train.py", "--output-dir", str(tmp_path), "OPTIM.MAX_EPOCHS", "3"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(REPO / "train.py"), run_name="__main__")
    message = str(exit_info.value.code)
    assert message.startswith("Config error: ") and "OPTIM.MAX_EPOCHS" in message
    assert not (tmp_path / "log.txt").exists()
