"""Distributed runs: gathered evaluation, rank-0-only writing, refusal of trainers without gradient sync.

The two-process tests start a real gloo process group on the CPU (``dist_run``).
"""

import json
import os

import pytest
import torch
from dist_run import run_processes
from dist_workers import evaluate_trainer, fake_logits, gather_indices, train_default_model
from tiny_run import make_image_tree, tiny_cfg

from dassl.engine import build_trainer
from dassl.engine.distributed_eval import order_gathered
from dassl.utils import distributed, set_random_seed


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return make_image_tree(str(tmp_path_factory.mktemp("dist")))


def test_order_gathered_restores_data_order_and_drops_padding():
    # 5 items over 2 ranks: rank 0 held positions 0, 2, 4; rank 1 held 1, 3 and 5 (= item 0 again)
    positions = torch.tensor([[0, 2, 4], [1, 3, 5]])
    values = torch.tensor([[10, 12, 14], [11, 13, 99]])
    assert order_gathered(values, positions, 5).tolist() == [10, 11, 12, 13, 14]
    rows = torch.arange(12).reshape(2, 3, 2)
    assert order_gathered(rows, positions, 5).tolist() == [[0, 1], [6, 7], [2, 3], [8, 9], [4, 5]]


def test_order_gathered_rejects_missing_or_repeated_positions():
    with pytest.raises(RuntimeError, match="do not cover 0..4 exactly once"):
        order_gathered(torch.zeros(2, 3), torch.tensor([[0, 2, 4], [1, 1, 5]]), 5)


def test_helpers_are_single_process_answers_without_a_group():
    t = torch.arange(3)
    assert distributed.get_world_size() == 1 and distributed.is_main_process()
    assert torch.equal(distributed.all_gather_tensor(t), t.unsqueeze(0))
    assert distributed.all_reduce_mean([t, None]) == [t, None]
    assert distributed.shared_seed(-1) == -1 and distributed.shared_seed(3) == 3
    distributed.barrier()


@pytest.mark.parametrize("num_items", [7, 8])
def test_two_processes_gather_every_item_once_in_data_order(tmp_path, num_items):
    run_processes(gather_indices, 2, str(tmp_path), num_items, 2)
    reports = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    per_rank = -(-num_items // 2)
    assert [len(r["seen"]) for r in reports] == [per_rank, per_rank]  # equal shares, padded when odd
    assert sorted(set(reports[0]["seen"]) | set(reports[1]["seen"])) == list(range(num_items))
    expected = fake_logits(torch.arange(num_items))
    for report in reports:  # every rank gets the whole split, padding duplicates removed
        assert torch.equal(report["outputs"], expected)
        assert report["labels"].tolist() == [i % 3 for i in range(num_items)]


REFUSALS = {
    4: (2, "TinyLinear builds a model without DistributedDataParallel"),  # global batch 4 = 2 per process
    3: (1, "BATCH_SIZE 3 is the global batch and must be divisible by the 2 processes"),
}


@pytest.mark.parametrize("batch", sorted(REFUSALS))
def test_two_process_evaluation_equals_the_single_process_one(root, tmp_path, batch):
    cfg = tiny_cfg(root, tmp_path / "single", "TEST.PER_CLASS_RESULT", "True",
                   "DATALOADER.TRAIN_X.BATCH_SIZE", str(batch))
    set_random_seed(1)
    single = build_trainer(cfg)
    with torch.no_grad():  # weights with some right and some wrong predictions
        weight = single.model.fc.weight
        weight.copy_(0.05 * torch.randn(weight.shape, generator=torch.Generator().manual_seed(3)))
    state_path = tmp_path / "state.pt"
    torch.save(single.model.state_dict(), state_path)
    accuracy = single.test()
    summary, wrong = single.evaluator.summary(), single.evaluator.wrong_predictions()
    assert summary["total"] == 15 and 0 < summary["correct"] < 15  # 15 test items: one padded on 2 ranks

    run_processes(evaluate_trainer, 2, cfg, str(state_path), str(tmp_path))
    reports = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(2)]
    for report in reports:
        assert report["accuracy"] == accuracy
        assert report["summary"] == summary and report["wrong"] == wrong
        # an evaluation needs no training batch; training is refused with the reason
        per_process, reason = REFUSALS[batch]
        assert report["train_batch"] == per_process and reason in report["train_refused"]
    written = json.loads((tmp_path / "rank0" / "results.json").read_text())
    assert written == json.loads((tmp_path / "single" / "results.json").read_text())
    assert (tmp_path / "rank0" / "wrong_predictions.json").exists()
    assert not os.path.exists(tmp_path / "rank1" / "results.json")
    assert not os.path.exists(tmp_path / "rank1" / "wrong_predictions.json")


def test_only_rank_0_writes_results_checkpoints_and_tensorboard(root, tmp_path, monkeypatch):
    cfg = tiny_cfg(root, tmp_path, "TEST.COMPUTE_CMAT", "True")
    trainer = build_trainer(cfg)
    monkeypatch.setattr(distributed, "get_rank", lambda: 1)
    trainer.test()
    trainer.save_model(0, str(tmp_path))
    trainer.init_writer(str(tmp_path / "tensorboard"))
    assert os.listdir(tmp_path) == [] and trainer._writer is None
    assert trainer.eval_history  # every rank keeps the history

    monkeypatch.setattr(distributed, "get_rank", lambda: 0)
    trainer.test()
    trainer.save_model(0, str(tmp_path))
    assert {"results.json", "cmat.pt", trainer.model_name} <= set(os.listdir(tmp_path))


def test_dassl_default_model_trains_the_same_on_two_processes(root, tmp_path):
    """Full-batch steps without random augmentation: the DDP-averaged gradient is the single-process one."""
    opts = ("MODEL.BACKBONE.NAME", "TinyPixels", "INPUT.TRANSFORMS", "['normalize']",
            "DATALOADER.TRAIN_X.BATCH_SIZE", "24", "OPTIM.LR", "0.5")  # 24 = the whole training split
    single_cfg = tiny_cfg(root, tmp_path / "single", *opts, trainer="TinyDefaultModel", epochs=3)
    ddp_cfg = tiny_cfg(root, tmp_path / "ddp", *opts, trainer="TinyDefaultModel", epochs=3)
    os.makedirs(ddp_cfg.OUTPUT_DIR)
    set_random_seed(1)
    single = build_trainer(single_cfg)
    initial = {k: v.clone() for k, v in single.model.state_dict().items()}
    single.train()
    run_processes(train_default_model, 2, ddp_cfg)
    checkpoint = torch.load(tmp_path / "ddp" / "model" / "model.pth.tar-3", weights_only=False)
    assert list(checkpoint["state_dict"]) == list(single.model.state_dict())  # no "module." prefix
    for rank in range(2):
        trained = torch.load(tmp_path / "ddp" / f"weights-rank{rank}.pt")
        for key, value in single.model.state_dict().items():
            assert torch.allclose(trained[key], value, atol=1e-5), key
            assert torch.allclose(checkpoint["state_dict"][key], value, atol=1e-5), key
    assert not torch.allclose(single.model.classifier.weight, initial["classifier.weight"], atol=1e-3)
    single_result, ddp_result = (json.loads((tmp_path / run / "results.json").read_text())
                                 for run in ("single", "ddp"))
    assert ddp_result["accuracy"] == single_result["accuracy"]
