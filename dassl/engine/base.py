"""``TrainerBase``: registered models, checkpoints, hooks and the epoch loop."""

import logging
import os.path as osp
from collections import OrderedDict

from dassl.run_dir import POINTER_FILE, choose_checkpoint
from dassl.utils import (
    get_rng_state,
    load_checkpoint,
    load_resume_checkpoint,
    save_checkpoint,
    set_rng_state,
    tolist_if_not,
)
from dassl.utils.distributed import barrier, is_main_process

from .finite import check_finite_loss, check_finite_state
from .hooks import HookBase
from .selection import is_clean
from .writer import SummaryWriter

__all__ = ["TrainerBase"]

log = logging.getLogger(__name__)


class TrainerBase:
    """Base class of every trainer.

    A trainer registers each trainable module with its optimizer and
    scheduler (:meth:`register_model`); the registered name is the
    checkpoint sub-folder. :meth:`train` runs ``before_train``, then
    ``before_epoch -> run_epoch -> after_epoch`` per epoch, then
    ``after_train``; each of these (and ``before_step`` / ``after_step``
    around every training step of ``run_epoch``) calls the registered
    hooks (:meth:`register_hooks`, :mod:`dassl.engine.hooks`) in order. A
    subclass that overrides one of them calls ``super()`` where the hooks
    should run.
    """

    def __init__(self):
        self._models = OrderedDict()
        self._optims = OrderedDict()
        self._scheds = OrderedDict()
        self._writer = None
        self._hooks = []
        # Epochs the current weights were trained for (None: untrained or unknown).
        self.weights_epoch = None
        self.weights_file = None  # the checkpoint file last loaded into the models (None: trained here)

    # ----------------------------------------------------------------- models
    def register_model(self, name="model", model=None, optim=None, sched=None):
        if self.__dict__.get("_models") is None:
            raise AttributeError("register_model() was called before TrainerBase.__init__() ran")
        assert name not in self._models, f"A model named '{name}' is already registered"
        self._models[name] = model
        self._optims[name] = optim
        self._scheds[name] = sched

    def get_model_names(self, names=None):
        registered = list(self._models.keys())
        if names is None:
            return registered
        names = tolist_if_not(names)
        for name in names:
            assert name in registered, f"Unknown model name '{name}'; registered: {registered}"
        return names

    def set_model_mode(self, mode="train", names=None):
        for name in self.get_model_names(names):
            if mode == "train":
                self._models[name].train()
            elif mode in ("test", "eval"):
                self._models[name].eval()
            else:
                raise KeyError(f"Unknown model mode '{mode}'; expected 'train', 'test' or 'eval'")

    # ------------------------------------------------------------------ hooks
    def register_hooks(self, hooks):
        """Append ``hooks`` (None entries are skipped); every event calls them in registration order."""
        for hook in hooks:
            if hook is None:
                continue
            if not isinstance(hook, HookBase):
                raise TypeError(f"register_hooks() takes dassl.engine.hooks.HookBase instances, got {hook!r}")
            hook.attach(self)
            self._hooks.append(hook)

    def _call_hooks(self, event, *args):
        for hook in self.__dict__.get("_hooks", ()):
            getattr(hook, event)(*args)

    def _hook_states(self):
        """``state_key -> state_dict()`` of the hooks that keep state across a resume."""
        states = {}
        for hook in self.__dict__.get("_hooks", ()):
            if hook.state_key is not None:
                if hook.state_key in states:
                    raise ValueError(f"two registered hooks store their state under {hook.state_key!r}")
                states[hook.state_key] = hook.state_dict()
        return states

    def _restore_hook_states(self, state):
        for hook in self.__dict__.get("_hooks", ()):
            if hook.state_key is not None and state and state.get(hook.state_key) is not None:
                hook.load_state_dict(state[hook.state_key])

    # ------------------------------------------------------------ checkpoints
    def trainer_state(self):
        """Extra state stored in every checkpoint (plain data only): the random generators and the state of
        the hooks that keep one."""
        return {"rng_state": get_rng_state(), **self._hook_states()}

    def restore_trainer_state(self, state):
        """Restore what :meth:`trainer_state` stored (None: nothing stored)."""
        if state and state.get("rng_state") is not None:
            set_rng_state(state["rng_state"])
            log.info("Restored random number generator states")
        self._restore_hook_states(state)

    def save_model(self, epoch, directory, is_best=False, val_result=None, model_name=""):
        """Write the checkpoints (rank 0 only in a distributed run; every rank waits until they exist)."""
        if is_main_process():
            self._write_checkpoints(epoch, directory, is_best, val_result, model_name)
        barrier()

    def _write_checkpoints(self, epoch, directory, is_best, val_result, model_name):
        extra = self.trainer_state()
        for name in self.get_model_names():
            optim = self._optims[name]
            sched = self._scheds[name]
            state_dict = self._models[name].state_dict()
            check_finite_state(state_dict, name, epoch + 1, getattr(self, "cfg", None))
            state = {
                "state_dict": state_dict,
                "epoch": epoch + 1,
                "optimizer": optim.state_dict() if optim is not None else None,
                "scheduler": sched.state_dict() if sched is not None else None,
                "val_result": None if val_result is None else float(val_result),
                "trainer_state": extra,
            }
            save_checkpoint(state, osp.join(directory, name), is_best=is_best, model_name=model_name)

    def resume_model_if_exist(self, directory):
        names = self.get_model_names()
        if not all(osp.exists(osp.join(directory, name, POINTER_FILE)) for name in names):
            log.info("No checkpoint found, train from scratch")
            return 0
        log.info(f"Found checkpoint at {directory} (will resume training)")
        checkpoint = None
        for name in names:
            checkpoint = load_resume_checkpoint(
                osp.join(directory, name), self._models[name], self._optims[name], self._scheds[name]
            )
        self.restore_trainer_state(checkpoint.get("trainer_state"))
        self.weights_epoch = checkpoint["epoch"]
        return checkpoint["epoch"]

    def load_model(self, directory, epoch=None):
        """Strictly load, into every model, the file :func:`~dassl.run_dir.choose_checkpoint` picks for
        ``epoch`` (None: the best file, or the last epoch file under ``TEST.PROTOCOL clean``)."""
        if not directory:
            log.info("Note that load_model() is skipped as no pretrained model is given")
            return
        clean = is_clean(getattr(self, "cfg", None))
        for name in self.get_model_names():
            model_path = choose_checkpoint(osp.join(directory, name), epoch, clean=clean)
            checkpoint = load_checkpoint(model_path)
            ckpt_epoch = checkpoint["epoch"]
            val_result = checkpoint.get("val_result")
            shown = "None" if val_result is None else f"{val_result:.1f}"
            log.info(f"Load {model_path} to {name} (epoch={ckpt_epoch}, val_result={shown})")
            self._models[name].load_state_dict(checkpoint["state_dict"])
            self.weights_epoch = ckpt_epoch
            self.weights_file = model_path

    # ---------------------------------------------------------------- writer
    def init_writer(self, log_dir):
        """Open the TensorBoard writer (rank 0 only: the other ranks write nothing)."""
        if self.__dict__.get("_writer") is None and is_main_process():
            log.info(f"Initialize tensorboard (log_dir={log_dir})")
            self._writer = SummaryWriter(log_dir=log_dir)

    def close_writer(self):
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def write_scalar(self, tag, scalar_value, global_step=None):
        if self._writer is not None:
            self._writer.add_scalar(tag, scalar_value, global_step)

    # ------------------------------------------------------------------ loop
    def train(self, start_epoch, max_epoch):
        self.start_epoch = start_epoch
        self.max_epoch = max_epoch
        self.before_train()
        for epoch in range(self.start_epoch, self.max_epoch):
            self.epoch = epoch
            self.before_epoch()
            self.run_epoch()
            self.weights_epoch = self.epoch + 1
            self.weights_file = None
            self.after_epoch()
        self.after_train()

    def before_train(self):
        self._call_hooks("before_train")

    def after_train(self):
        self._call_hooks("after_train")

    def before_epoch(self):
        self._call_hooks("before_epoch")

    def after_epoch(self):
        self._call_hooks("after_epoch")

    def before_step(self):
        self._call_hooks("before_step")

    def after_step(self):
        self._call_hooks("after_step")

    def after_test(self, split, results):
        self._call_hooks("after_test", split, results)

    def run_epoch(self):
        raise NotImplementedError

    def test(self):
        raise NotImplementedError

    def parse_batch_train(self, batch):
        raise NotImplementedError

    def parse_batch_test(self, batch):
        raise NotImplementedError

    def forward_backward(self, batch):
        raise NotImplementedError

    def model_inference(self, input):
        raise NotImplementedError

    # ------------------------------------------------------------ optimizing
    def update_lr(self, names=None):
        for name in self.get_model_names(names):
            if self._scheds[name] is not None:
                self._scheds[name].step()

    def detect_anomaly(self, loss):
        check_finite_loss(loss, self)

    def model_zero_grad(self, names=None):
        for name in self.get_model_names(names):
            if self._optims[name] is not None:
                self._optims[name].zero_grad()

    def model_backward(self, loss):
        """Backward, then the finite-loss check: checking first would make the host wait for the forward
        pass on the GPU before it can queue the backward kernels. A non-finite loss still raises before
        any optimizer step."""
        loss.backward()
        self.detect_anomaly(loss)

    def model_update(self, names=None):
        for name in self.get_model_names(names):
            if self._optims[name] is not None:
                self._optims[name].step()

    def model_backward_and_update(self, loss, names=None):
        self.model_zero_grad(names)
        self.model_backward(loss)
        self.model_update(names)

