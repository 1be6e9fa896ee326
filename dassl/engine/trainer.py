"""Generic trainers: ``SimpleTrainer`` (data, model, test) and ``TrainerX`` (the epoch loop).

Re-exports ``TrainerBase``, ``SimpleNet``, the meters and ``SummaryWriter``
so that code importing them from here (as in Dassl) keeps working.
"""

import datetime
import inspect
import logging
import os.path as osp
import sys
import time

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from dassl.config.engine_keys import cfg_get
from dassl.data import DataManager
from dassl.evaluation import build_evaluator
from dassl.optim import build_lr_scheduler, build_optimizer
from dassl.run_dir import is_best_file
from dassl.utils import (
    AverageMeter,
    MetricMeter,
    count_num_param,
    load_pretrained_weights,
    mkdir_if_missing,
)
from dassl.utils.device import describe_device, device_line, select_device
from dassl.utils.distributed import get_world_size, is_distributed, is_main_process, local_rank

from .base import TrainerBase
from .ddp import wrap_model
from .distributed_eval import ShardedEvaluation, shard_loader
from .finite import FiniteOutputs
from .hooks import BestValCheckpointer, EpochCheckpointer, FinalEvaluation, ResultsWriter, TrainingTime
from .loading import ClipLoadModelMixin, load_model_dropping_class_buffers
from .reporting import split_classes
from .simple_net import SimpleNet
from .writer import SummaryWriter

__all__ = [
    "AverageMeter",
    "ClipLoadModelMixin",
    "MetricMeter",
    "SimpleNet",
    "SimpleTrainer",
    "SummaryWriter",
    "TrainerBase",
    "TrainerX",
    "TrainerXU",
    "load_model_dropping_class_buffers",
]

log = logging.getLogger(__name__)


class SimpleTrainer(TrainerBase):
    """Builds data loaders, model and evaluator from the config; tests; saves checkpoints.

    ``data_wiring`` tells the dataset which splits feed train/val/test
    ("coop", "fork", "promptkd", "stage2"); subclasses override it.
    Best-val selection, epoch checkpoints, the final test and the result
    files are hooks (:meth:`build_hooks`), registered after the model is built.
    """

    data_wiring = "coop"
    # Why this trainer cannot train on several processes (None: it can); checked when the trainer is built.
    distributed_unsupported = None
    # True when split "val" holds test images (PromptKD family): selecting on it selects on test data.
    val_is_test = False

    def __init__(self, cfg):
        super().__init__()
        self.check_cfg(cfg)
        self.check_distributed_support()
        self.device = select_device(cfg.USE_CUDA, local_rank() if is_distributed() else None)
        self.device_info = describe_device(self.device, cfg.USE_CUDA)
        log.info(device_line(self.device_info))
        self.start_epoch = self.epoch = 0
        self.max_epoch = cfg.OPTIM.MAX_EPOCH
        self.output_dir = cfg.OUTPUT_DIR
        self.cfg = cfg
        self.eval_history = []
        self._split_classes = {}  # evaluated dataset -> (label -> class name, half) of its items
        self.build_data_loader()
        self.build_model()
        self.evaluator = build_evaluator(cfg, lab2cname=self.lab2cname)
        self.best_result = -np.inf
        self.register_hooks(self.build_hooks())

    def build_hooks(self):
        """The hooks this trainer registers when it is built: the method's own (:meth:`method_hooks`)
        first, so that what they change is in the epoch's checkpoints, then the engine's."""
        return [*self.method_hooks(), BestValCheckpointer(), EpochCheckpointer(), FinalEvaluation(),
                ResultsWriter(), TrainingTime()]

    def method_hooks(self):
        """Hooks of a method (e.g. PromptSRC's weight averaging); none by default."""
        return []

    def check_cfg(self, cfg):
        """Validate trainer-specific settings (``self.cfg`` is not set yet)."""

    def check_distributed_support(self):
        """Refuse a distributed run of a trainer that declares it cannot have one."""
        if is_distributed() and self.distributed_unsupported:
            raise RuntimeError(f"{type(self).__name__} cannot run on several processes (torchrun "
                               f"WORLD_SIZE={get_world_size()}): {self.distributed_unsupported}. "
                               "Run it in a single process.")

    def build_data_loader(self):
        dm = DataManager(self.cfg, wiring=self.data_wiring)
        self.train_loader_x = dm.train_loader_x
        self.train_loader_u = dm.train_loader_u
        self.val_loader = dm.val_loader
        self.test_loader = dm.test_loader
        self.num_classes = dm.num_classes
        self.num_source_domains = dm.num_source_domains
        self.lab2cname = dm.lab2cname
        self.dm = dm

    def build_model(self):
        """Default model: :class:`SimpleNet` with the configured optimizer and scheduler."""
        cfg = self.cfg
        log.info("Building model")
        self.model = SimpleNet(cfg, cfg.MODEL, self.num_classes)
        if cfg.MODEL.INIT_WEIGHTS:
            load_pretrained_weights(self.model, cfg.MODEL.INIT_WEIGHTS)
        self.model.to(self.device)
        log.info(f"# params: {count_num_param(self.model):,}")
        self.optim = build_optimizer(self.model, cfg.OPTIM)
        self.sched = build_lr_scheduler(self.optim, cfg.OPTIM)
        self.register_model("model", self.model, self.optim, self.sched)
        if is_distributed():
            # registered unwrapped (checkpoint keys without "module."); the forward goes through DDP
            self.model = wrap_model(self.model, self.device)
            self.gradients_synchronised = True

    def train(self):
        super().train(self.start_epoch, self.max_epoch)

    def release_distributed(self):
        """Unwrap the DDP model before the process group is destroyed (a DDP reducer must not outlive its
        group: destroyed later, at interpreter exit, it can abort the process)."""
        model = getattr(self, "model", None)  # trainers that only evaluate may hold no ``model``
        if isinstance(model, DistributedDataParallel):
            self.model = model.module

    # ------------------------------------------------------------ checkpoints
    def trainer_state(self):
        state = super().trainer_state()
        state["best_result"] = float(self.best_result) if np.isfinite(self.best_result) else None
        state["eval_history"] = [dict(h) for h in self.eval_history]
        return state

    def restore_trainer_state(self, state):
        super().restore_trainer_state(state)
        if not state:
            return
        if state.get("best_result") is not None:
            self.best_result = state["best_result"]
        self.eval_history = [dict(h) for h in state.get("eval_history") or []]

    # ------------------------------------------------------------------ hooks
    def before_train(self):
        directory = self.cfg.RESUME or self.cfg.OUTPUT_DIR
        self.start_epoch = self.resume_model_if_exist(directory)
        if is_distributed():
            for loader in (self.train_loader_x, self.train_loader_u):
                if getattr(loader, "distributed_batch_error", None):
                    raise ValueError(loader.distributed_batch_error)
            self.setup_distributed_training()
        if is_main_process():
            writer_dir = osp.join(self.output_dir, "tensorboard")
            mkdir_if_missing(writer_dir)
            self.init_writer(writer_dir)
        self.time_start = time.time()
        super().before_train()

    def setup_distributed_training(self):
        """Make sure gradients are averaged over the processes before training on several of them.

        The default ``build_model`` wraps its model in DDP; a trainer that builds its own model sets
        ``self.gradients_synchronised`` once it has done the same, or is refused here (its processes
        would silently train diverging copies).
        """
        trains = any(optim is not None for optim in self._optims.values())
        if trains and not getattr(self, "gradients_synchronised", False):
            raise RuntimeError(
                f"{type(self).__name__} builds a model without DistributedDataParallel, so its processes "
                "would not share gradients; wrap the trained module (dassl.engine.ddp) and set "
                "self.gradients_synchronised = True, or run it in a single process"
            )

    def after_train(self):
        log.info("Finish training")
        super().after_train()
        self.close_writer()

    # ---------------------------------------------------------------- testing
    def _evaluator_takes_impaths(self):
        try:
            params = inspect.signature(self.evaluator.process).parameters
        except (TypeError, ValueError):
            return False
        return "impaths" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())

    @torch.no_grad()
    def test(self, split=None):
        """Evaluate on ``split`` (default ``TEST.SPLIT``); return the first metric (accuracy)."""
        self.set_model_mode("eval")
        self.evaluator.reset()
        split = split or self.cfg.TEST.SPLIT
        if split == "val" and self.val_loader is not None:
            data_loader = self.val_loader
        else:
            split = "test"
            data_loader = self.test_loader
        log.info(f"Evaluate on the *{split}* set")
        self._use_split_classnames(data_loader)

        pass_impaths = self._evaluator_takes_impaths()
        show_bar = bool(cfg_get(self.cfg.TRAIN, "PROGRESS_BAR", True)) and is_main_process()
        sharded = ShardedEvaluation(self._shard_loader(data_loader)) if is_distributed() else None
        loader = sharded.loader if sharded is not None else data_loader
        batches = tqdm(loader, file=sys.stderr, disable=not show_bar, leave=False, desc=split)
        finite = FiniteOutputs()
        for batch_idx, batch in enumerate(batches):
            input, label = self.parse_batch_test(batch)
            output = self.model_inference(input)
            finite.add(output, batch_idx)
            if sharded is not None:
                sharded.add(output, label)
            elif pass_impaths and isinstance(batch, dict) and "impath" in batch:
                self.evaluator.process(output, label, impaths=batch["impath"])
            else:
                self.evaluator.process(output, label)
        finite.check(split, self.cfg)
        if sharded is not None:
            self._process_gathered(sharded, data_loader, pass_impaths)

        results = self.evaluator.evaluate()
        for k, v in results.items():
            self.write_scalar(f"{split}/{k}", v, self.epoch)
        self.record_evaluation(split, results)
        return list(results.values())[0]

    def _shard_loader(self, data_loader):
        """This rank's share of ``data_loader`` (built once per loader)."""
        shards = self.__dict__.setdefault("_shard_loaders", {})
        if data_loader not in shards:
            shards[data_loader] = shard_loader(data_loader)
        return shards[data_loader]

    def _process_gathered(self, sharded, data_loader, pass_impaths):
        """Feed the evaluator every rank's outputs in data set order, as one process would have."""
        output, label = sharded.gather()
        items = getattr(data_loader.dataset, "data_source", None)
        if pass_impaths and items is not None:
            self.evaluator.process(output, label, impaths=[item.impath for item in items])
        else:
            self.evaluator.process(output, label)

    def eval_lab2cname(self) -> dict:
        """Label -> class name of the split evaluated last (named by its own items), else the dataset's."""
        return getattr(self, "_eval_lab2cname", None) or self.lab2cname

    def _use_split_classnames(self, data_loader):
        """Name the classes after the evaluated split's own items (its labels may be relabelled from 0)."""
        items = getattr(data_loader.dataset, "data_source", None)
        # A split's items do not change between evaluations: read them once per loader dataset.
        if data_loader.dataset not in self._split_classes:
            dataset = getattr(getattr(self, "dm", None), "dataset", None)
            self._split_classes[data_loader.dataset] = split_classes(items, dataset)
        names, half = self._split_classes[data_loader.dataset]
        self._eval_classes = half
        if names is not None:
            self._eval_lab2cname = names
            if hasattr(self.evaluator, "set_class_names"):
                self.evaluator.set_class_names(names)

    def record_evaluation(self, split, results):
        """Run the ``after_test`` hooks (:class:`~dassl.engine.hooks.ResultsWriter` writes results.json),
        then remember this evaluation in the run history.

        Trainers with their own ``test()`` call this after ``evaluator.evaluate()``.
        """
        first = float(list(results.values())[0])
        self.after_test(split, results)
        self.eval_history.append({"epoch": self.weights_epoch, "split": split, "accuracy": first})

    def weights_selected_on_test(self) -> bool:
        """Were the evaluated weights chosen by accuracy on test images (a best-val file whose val split
        is test data)? Trainers that freeze other runs' weights extend this."""
        val_is_test = self.val_is_test or getattr(self, "val_loader", None) is None
        return bool(val_is_test and is_best_file(getattr(self, "weights_file", None)))

    def model_inference(self, input):
        return self.model(input)

    def parse_batch_test(self, batch):
        return batch["img"].to(self.device), batch["label"].to(self.device)

    def get_current_lr(self, names=None):
        name = self.get_model_names(names)[0]
        return self._optims[name].param_groups[0]["lr"]


def set_sampler_epoch(loader, epoch):
    """Tell a distributed sampler the epoch: each epoch gets its own order (the same on all ranks)."""
    sampler = getattr(loader, "sampler", None)
    if hasattr(sampler, "set_epoch"):
        sampler.set_epoch(epoch)


def _report_step(trainer, batch_time, data_time, losses):
    """After a training step: the progress line every ``TRAIN.PRINT_FREQ`` steps (every step when an epoch
    is shorter), and the running averages and learning rate as tensorboard scalars."""
    print_freq = trainer.cfg.TRAIN.PRINT_FREQ
    if (trainer.batch_idx + 1) % print_freq == 0 or trainer.num_batches < print_freq:
        log.info(_progress_line(trainer, batch_time, data_time, losses))
    n_iter = trainer.epoch * trainer.num_batches + trainer.batch_idx
    for name, meter in losses.meters.items():
        trainer.write_scalar("train/" + name, meter.avg, n_iter)
    trainer.write_scalar("train/lr", trainer.get_current_lr(), n_iter)


def _progress_line(trainer, batch_time, data_time, losses):
    nb_remain = trainer.num_batches - trainer.batch_idx - 1
    nb_remain += (trainer.max_epoch - trainer.epoch - 1) * trainer.num_batches
    eta = datetime.timedelta(seconds=int(batch_time.avg * nb_remain))
    fields = [
        f"epoch [{trainer.epoch + 1}/{trainer.max_epoch}]",
        f"batch [{trainer.batch_idx + 1}/{trainer.num_batches}]",
        f"time {batch_time.val:.3f} ({batch_time.avg:.3f})",
        f"data {data_time.val:.3f} ({data_time.avg:.3f})",
        f"{losses}",
        f"lr {trainer.get_current_lr():.4e}",
        f"eta {eta}",
    ]
    if cfg_get(trainer.cfg.TRAIN, "PRINT_MAX_MEM", False) and trainer.device.type == "cuda":
        fields.append(f"max mem {torch.cuda.max_memory_allocated(trainer.device) / 2**20:.0f}")
    return " ".join(fields)


class TrainerX(SimpleTrainer):
    """Trainer over the labelled loader ``train_loader_x`` (base of every CLIP trainer).

    Subclasses implement ``forward_backward(batch) -> dict of floats`` (the
    values ``run_epoch`` logs). The schedulers step once per epoch: either
    the trainer registers :class:`~dassl.engine.hooks.LRScheduler` (as
    ``ClipTrainer`` does) or, as in Dassl, ``forward_backward`` calls
    ``self.update_lr()`` on the last batch (``self.batch_idx + 1 ==
    self.num_batches``). The ``before_step`` / ``after_step`` hooks run
    around each ``forward_backward`` call.
    """

    def run_epoch(self):
        self.set_model_mode("train")
        set_sampler_epoch(self.train_loader_x, self.epoch)
        losses = MetricMeter()
        batch_time = AverageMeter()
        data_time = AverageMeter()
        self.num_batches = len(self.train_loader_x)

        end = time.time()
        for batch_idx, batch in enumerate(self.train_loader_x):
            self.batch_idx = batch_idx
            data_time.update(time.time() - end)
            self.before_step()
            loss_summary = self.forward_backward(batch)
            self.after_step()
            batch_time.update(time.time() - end)
            losses.update(loss_summary)
            _report_step(self, batch_time, data_time, losses)
            end = time.time()

    def parse_batch_train(self, batch):
        input = batch["img"].to(self.device)
        label = batch["label"].to(self.device)
        domain = batch["domain"].to(self.device)
        return input, label, domain


class TrainerXU(SimpleTrainer):
    """Trainer over a labelled and an unlabelled loader (kept for Dassl imports)."""

    def run_epoch(self):
        self.set_model_mode("train")
        losses = MetricMeter()
        batch_time = AverageMeter()
        data_time = AverageMeter()
        len_x = len(self.train_loader_x)
        len_u = len(self.train_loader_u)
        mode = self.cfg.TRAIN.COUNT_ITER
        if mode == "train_x":
            self.num_batches = len_x
        elif mode == "train_u":
            self.num_batches = len_u
        elif mode == "smaller_one":
            self.num_batches = min(len_x, len_u)
        else:
            raise ValueError(f"TRAIN.COUNT_ITER must be train_x, train_u or smaller_one, got {mode}")

        set_sampler_epoch(self.train_loader_x, self.epoch)
        set_sampler_epoch(self.train_loader_u, self.epoch)
        iter_x = iter(self.train_loader_x)
        iter_u = iter(self.train_loader_u)
        end = time.time()
        for batch_idx in range(self.num_batches):
            self.batch_idx = batch_idx
            try:
                batch_x = next(iter_x)
            except StopIteration:
                iter_x = iter(self.train_loader_x)
                batch_x = next(iter_x)
            try:
                batch_u = next(iter_u)
            except StopIteration:
                iter_u = iter(self.train_loader_u)
                batch_u = next(iter_u)
            data_time.update(time.time() - end)
            self.before_step()
            losses.update(self.forward_backward(batch_x, batch_u))
            self.after_step()
            batch_time.update(time.time() - end)
            _report_step(self, batch_time, data_time, losses)
            end = time.time()

    def parse_batch_train(self, batch_x, batch_u):
        input_x = batch_x["img"].to(self.device)
        label_x = batch_x["label"].to(self.device)
        input_u = batch_u["img"].to(self.device)
        return input_x, label_x, input_u
