"""The Dassl import surface that trainers, datasets and published scripts rely on."""

import importlib
import importlib.util
import logging
import sys

import pytest

SURFACE = {
    "dassl.config": ["get_cfg_default", "clean_cfg", "cfg_hook", "extend_cfg", "add_cfg_node"],
    "dassl.engine": ["TRAINER_REGISTRY", "build_trainer", "TrainerX", "TrainerXU", "TrainerBase",
                     "SimpleTrainer", "SimpleNet"],
    "dassl.engine.trainer": ["TrainerX", "TrainerBase", "SimpleTrainer", "SimpleNet", "MetricMeter",
                             "AverageMeter", "SummaryWriter", "load_model_dropping_class_buffers",
                             "ClipLoadModelMixin"],
    "dassl.data": ["DataManager", "DatasetWrapper"],
    "dassl.data.data_manager": ["DataManager", "DatasetWrapper", "build_data_loader"],
    "dassl.data.datasets": ["DATASET_REGISTRY", "build_dataset", "Datum", "DatasetBase"],
    "dassl.data.datasets.base_dataset": ["Datum", "DatasetBase"],
    "dassl.data.samplers": ["build_sampler"],
    "dassl.data.transforms": ["build_transform", "INTERPOLATION_MODES"],
    "dassl.data.transforms.transforms": ["build_transform", "INTERPOLATION_MODES"],
    "dassl.evaluation": ["build_evaluator", "EVALUATOR_REGISTRY", "Classification", "EvaluatorBase"],
    "dassl.metrics": ["compute_accuracy"],
    "dassl.optim": ["build_optimizer", "build_lr_scheduler"],
    "dassl.optim.lr_scheduler": ["ConstantWarmupScheduler", "LinearWarmupScheduler", "build_lr_scheduler"],
    "dassl.optim.radam": ["RAdam", "PlainRAdam", "AdamW"],
    "dassl.utils": ["setup_logger", "set_random_seed", "collect_env_info", "load_pretrained_weights",
                    "load_checkpoint", "save_checkpoint", "resume_from_checkpoint", "count_num_param",
                    "mkdir_if_missing", "check_isfile", "listdir_nohidden", "read_json", "write_json",
                    "read_image", "download_url", "tolist_if_not", "get_most_similar_str_to_a_from_b",
                    "check_availability", "Registry", "MetricMeter", "AverageMeter", "Logger"],
    "dassl.utils.tools": ["mkdir_if_missing", "check_isfile", "read_json", "write_json"],
    "dassl.modeling": ["build_backbone", "build_head"],
}


@pytest.mark.parametrize("module", sorted(SURFACE))
def test_symbols_resolve(module):
    mod = importlib.import_module(module)
    missing = [name for name in SURFACE[module] if not hasattr(mod, name)]
    assert not missing


def test_version_and_no_global_side_effects():
    stdout = sys.stdout
    dassl = importlib.import_module("dassl")
    for module in SURFACE:
        importlib.import_module(module)
    assert isinstance(dassl.__version__, str)
    assert logging.root.manager.disable == logging.NOTSET
    assert sys.stdout is stdout


def test_summary_writer_falls_back_to_a_no_op(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # makes the import fail
    path = importlib.import_module("dassl.engine.writer").__file__
    spec = importlib.util.spec_from_file_location("writer_without_tensorboard", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.TENSORBOARD_AVAILABLE is False
    writer = module.SummaryWriter(log_dir=str(tmp_path))
    writer.add_scalar("a", 1.0, 0)
    writer.close()
    assert list(tmp_path.iterdir()) == []
