"""Training hooks: behaviour that cuts across trainers, each as one small object.

A hook implements any of ``before_train``, ``before_epoch``, ``before_step``, ``after_step``,
``after_epoch``, ``after_train`` and ``after_test`` (called with the evaluated split and the evaluator's
results). :meth:`TrainerBase.register_hooks <dassl.engine.base.TrainerBase.register_hooks>` gives each hook
a weak reference to its trainer (read as ``self.trainer``) and the trainer calls the hooks of an event in
registration order. A hook that keeps state across a resume names it with ``state_key``: its
``state_dict()`` is stored under that key of the checkpoints' ``trainer_state`` and given back to
``load_state_dict`` when the run resumes.

The engine's own hooks, in the order ``SimpleTrainer.build_hooks`` registers them after a trainer's
``method_hooks()``:

* :class:`BestValCheckpointer` - after each epoch, under ``TEST.FINAL_MODEL best_val``, evaluate on
  ``val`` and write ``model-best.pth.tar`` when the accuracy improved;
* :class:`EpochCheckpointer` - after each epoch, write the epoch's checkpoint (what a resumed run starts
  from) and prune the ones ``TRAIN.CHECKPOINT_FREQ`` does not keep;
* :class:`FinalEvaluation` - after training, deploy the best-val or the last-epoch weights and test them;
* :class:`ResultsWriter` - after every evaluation, write ``results.json`` / ``wrong_predictions.json``;
* :class:`TrainingTime` - after training, log the time since training started.

Hooks that act on the finished run (PromptKD's stage-1 outputs) are appended after these.

:class:`LRScheduler` (once-per-epoch scheduler step) is added by trainers whose training step does not
step the schedulers itself (``ClipTrainer``); Dassl-style trainers keep calling ``update_lr()``.
"""

import datetime
import logging
import os.path as osp
import time
import weakref

from dassl.config.engine_keys import cfg_get
from dassl.run_dir import BEST_FILE
from dassl.utils import prune_rolling_checkpoints
from dassl.utils.distributed import is_main_process

from .reporting import run_metadata, write_eval_outputs
from .selection import final_model

__all__ = ["BestValCheckpointer", "EpochCheckpointer", "FinalEvaluation", "HookBase", "LRScheduler",
           "ResultsWriter", "TrainingTime"]

log = logging.getLogger(__name__)


class HookBase:
    """Base class of the training hooks: every event is a no-op until a subclass overrides it.

    Attributes:
        trainer: the trainer that registered the hook (held through a weak reference, so a hook does not
            keep its trainer alive; None before ``register_hooks``).
        state_key: name under which :meth:`state_dict` is checkpointed (None: the hook has no state).
    """

    state_key = None
    _trainer_ref = None

    @property
    def trainer(self):
        return None if self._trainer_ref is None else self._trainer_ref()

    def attach(self, trainer):
        """Called by ``register_hooks``: remember ``trainer`` weakly."""
        self._trainer_ref = weakref.ref(trainer)

    def before_train(self):
        pass

    def before_epoch(self):
        pass

    def before_step(self):
        pass

    def after_step(self):
        pass

    def after_epoch(self):
        pass

    def after_train(self):
        pass

    def after_test(self, split, results):
        """After an evaluation on ``split`` (``results``: the evaluator's metrics, in its order)."""

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


class LRScheduler(HookBase):
    """Step every registered scheduler once per epoch, after the epoch's last training step.

    It runs right after the step, before the step's progress line, which therefore shows the learning
    rate of the next epoch on the last batch (as Dassl's in-step ``update_lr`` did).
    """

    def after_step(self):
        trainer = self.trainer
        if trainer.batch_idx + 1 == trainer.num_batches:
            trainer.update_lr()


class BestValCheckpointer(HookBase):
    """Under ``TEST.FINAL_MODEL best_val`` (and a testing run), evaluate on ``val`` after every epoch and
    write ``model-best.pth.tar`` whenever the accuracy beats ``trainer.best_result``.

    ``TEST.PROTOCOL clean`` reads ``FINAL_MODEL`` as ``last_step``
    (:func:`dassl.engine.selection.final_model`), so no epoch is ever selected on a split."""

    def after_epoch(self):
        trainer = self.trainer
        if trainer.cfg.TEST.NO_TEST or final_model(trainer.cfg) != "best_val":
            return
        result = trainer.test(split="val")
        if result > trainer.best_result:
            trainer.best_result = result
            trainer.save_model(trainer.epoch, trainer.output_dir, val_result=result, model_name=BEST_FILE)


class EpochCheckpointer(HookBase):
    """Save every epoch so that a killed run resumes where it stopped; epoch files that
    ``TRAIN.CHECKPOINT_FREQ`` does not ask for are pruned, keeping the previous one as a fallback."""

    def after_epoch(self):
        trainer = self.trainer
        epochs_done = trainer.epoch + 1
        freq = trainer.cfg.TRAIN.CHECKPOINT_FREQ
        kept_for_good = epochs_done == trainer.max_epoch or (freq > 0 and epochs_done % freq == 0)
        trainer.save_model(trainer.epoch, trainer.output_dir)
        for name in trainer.get_model_names() if is_main_process() else ():
            prune_rolling_checkpoints(osp.join(trainer.output_dir, name), epochs_done, freq,
                                      keep_previous=not kept_for_good)


class FinalEvaluation(HookBase):
    """After training (unless ``TEST.NO_TEST``): load the best-val weights under ``best_val``, else keep
    the last epoch's, and test them."""

    def after_train(self):
        trainer = self.trainer
        if trainer.cfg.TEST.NO_TEST:
            return
        if final_model(trainer.cfg) == "best_val":
            log.info("Deploy the model with the best val performance")
            trainer.load_model(trainer.output_dir)
        else:
            log.info("Deploy the last-epoch model")
        trainer.test()


class ResultsWriter(HookBase):
    """Write ``results.json`` (and ``wrong_predictions.json`` when the evaluator lists them) after every
    evaluation, on rank 0, unless ``TEST.WRITE_RESULTS`` is off (see :mod:`dassl.engine.reporting`)."""

    def after_test(self, split, results):
        trainer = self.trainer
        if not cfg_get(trainer.cfg.TEST, "WRITE_RESULTS", True) or not is_main_process():
            return
        evaluator = trainer.evaluator
        if hasattr(evaluator, "summary"):
            summary = evaluator.summary()
        else:
            summary = {k: float(v) for k, v in results.items()}
        wrong = evaluator.wrong_predictions() if hasattr(evaluator, "wrong_predictions") else None
        lab2cname = trainer.eval_lab2cname()
        labels = sorted(lab2cname) if lab2cname else []
        meta = run_metadata(trainer.cfg, trainer.cfg.TRAINER.NAME or type(trainer).__name__,
                            trainer.weights_epoch, device=trainer.device_info)
        if getattr(trainer, "_eval_classes", None):
            meta["eval_classes"] = trainer._eval_classes
        meta["selected_on_test"] = trainer.weights_selected_on_test()
        write_eval_outputs(trainer.output_dir, split, summary, meta, trainer.eval_history,
                           classnames=[lab2cname[i] for i in labels], wrong=wrong)


class TrainingTime(HookBase):
    """Log ``Elapsed: H:MM:SS`` after training, counted from ``trainer.time_start`` (set when training
    starts, after a resume has loaded its checkpoint)."""

    def after_train(self):
        start = getattr(self.trainer, "time_start", None)
        elapsed = 0 if start is None else round(time.time() - start)
        log.info(f"Elapsed: {datetime.timedelta(seconds=elapsed)}")
