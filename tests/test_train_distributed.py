"""``torchrun --nproc_per_node 2 train.py`` (gloo, CPU) against the single-process run on the toy world.

The runs use full-batch steps without random augmentation: a single process and two processes then
take the same optimisation steps (the DDP-averaged gradient of two half batches is the full-batch
gradient), so the learnt tensors must agree to float precision and the accuracies must match.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]

# (trainer, config, checkpoint folder, learnt tensor)
RUNS = {
    "CoOp": ("CoOp/toy_vit_s.yaml", "prompt_learner", "ctx"),
    "ProGrad": ("ProGrad/toy_vit_s.yaml", "learnable_params", "prompt_learner.ctx"),
}


def toy_args(toy_world, trainer, out):
    config = RUNS[trainer][0]
    return ["--root", str(toy_world.root), "--seed", "1", "--trainer", trainer,
            "--dataset-config-file", str(REPO / "configs/datasets/fashion_mnist.yaml"),
            "--config-file", str(REPO / "configs/trainers" / config), "--output-dir", str(out),
            "DATASET.NUM_SHOTS", "4", "DATASET.SUBSAMPLE_CLASSES", "base",
            "DATALOADER.TRAIN_X.BATCH_SIZE", "20",  # the 20 training images: one global batch per epoch
            "INPUT.TRANSFORMS", '["normalize"]', "OPTIM.MAX_EPOCH", "3",
            "DATALOADER.NUM_WORKERS", "0", "DATALOADER.TEST.BATCH_SIZE", "7",
            "TRAIN.COLLECT_ENV_INFO", "False", "TRAIN.PROGRESS_BAR", "False",
            "USE_CUDA", "False",  # gloo on the CPU, on any machine (CUDA runs need one GPU per process)
            "MODEL.CLIP_WEIGHTS_DIR", str(toy_world.weights_dir)]


def torchrun(args, nproc=2):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "train.py", *args]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def learnt(out, trainer):
    _, folder, key = RUNS[trainer]
    state = torch.load(Path(out) / folder / "model.pth.tar-3", map_location="cpu", weights_only=False)
    return state["state_dict"], state["state_dict"][key]


def compare_with_single_process(toy_world, tmp_path, trainer):
    import train

    single_out, ddp_out = tmp_path / "single", tmp_path / "ddp"
    train.main(toy_args(toy_world, trainer, single_out))
    torchrun(toy_args(toy_world, trainer, ddp_out))

    single, ddp = (json.loads((out / "results.json").read_text()) for out in (single_out, ddp_out))
    print(f"\n{trainer} accuracy: single process {single['accuracy']:.2f}%, "
          f"2 processes {ddp['accuracy']:.2f}%")
    assert abs(single["accuracy"] - ddp["accuracy"]) <= 0.5
    assert ddp["total"] == single["total"] == 5 * 6  # every test image once, none twice
    single_state, single_ctx = learnt(single_out, trainer)
    ddp_state, ddp_ctx = learnt(ddp_out, trainer)
    assert list(ddp_state) == list(single_state)  # no "module." prefix
    assert torch.allclose(ddp_ctx, single_ctx, atol=1e-5), (ddp_ctx - single_ctx).abs().max()
    initial = initial_value(toy_world, tmp_path, trainer)
    assert (ddp_ctx - initial).abs().max() > 100 * (ddp_ctx - single_ctx).abs().max()  # it did train

    logs = sorted(p.name for p in ddp_out.iterdir() if p.name.startswith("log.txt"))
    assert logs == ["log.txt"]  # rank 1 opened no log of its own
    log = (ddp_out / "log.txt").read_text()
    assert "Distributed run: 2 processes" in log and "Finish training" in log
    assert (ddp_out / "tensorboard").is_dir() and (ddp_out / "wrong_predictions.json").is_file()


def initial_value(toy_world, tmp_path, trainer):
    """The learnt tensor as the model is built (before any step)."""
    import train

    built = train.main(["--no-train", *toy_args(toy_world, trainer, tmp_path / "built")])
    _, folder, key = RUNS[trainer]
    return built._models[folder].state_dict()[key].detach().cpu()


def test_coop_on_two_processes_matches_the_single_process_run(toy_world, tmp_path):
    compare_with_single_process(toy_world, tmp_path, "CoOp")


@pytest.mark.slow
def test_prograd_on_two_processes_matches_the_single_process_run(toy_world, tmp_path):
    compare_with_single_process(toy_world, tmp_path, "ProGrad")


def test_capt_refuses_a_distributed_run(monkeypatch):
    import dassl.engine.trainer as engine
    from trainers.capt.trainer import CAPT

    monkeypatch.setattr(engine, "is_distributed", lambda: True)
    monkeypatch.setattr(engine, "get_world_size", lambda: 2)
    with pytest.raises(RuntimeError, match="CAPT cannot run on several processes .*Confusion Bank"):
        CAPT.__new__(CAPT).check_distributed_support()
