"""The hook API of the engine: event order, weak references, checkpointed hook state, LR stepping."""

import gc
import os.path as osp

import pytest
import torch
from tiny_run import TinyLinear, make_image_tree, tiny_cfg

from dassl.engine import TrainerBase, build_trainer
from dassl.engine.hooks import (
    BestValCheckpointer,
    EpochCheckpointer,
    FinalEvaluation,
    HookBase,
    LRScheduler,
    ResultsWriter,
    TrainingTime,
)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return make_image_tree(str(tmp_path_factory.mktemp("hooks")))


class Recorder(HookBase):
    def __init__(self, name, events):
        self.name, self.events = name, events

    def _record(self, event):
        trainer = self.trainer
        where = (getattr(trainer, "epoch", None), getattr(trainer, "batch_idx", None))
        self.events.append((self.name, event, *where))

    def before_train(self):
        self._record("before_train")

    def before_epoch(self):
        self._record("before_epoch")

    def before_step(self):
        self._record("before_step")

    def after_step(self):
        self._record("after_step")

    def after_epoch(self):
        self._record("after_epoch")

    def after_train(self):
        self._record("after_train")


class LoopTrainer(TrainerBase):
    """Two steps per epoch, no data: only the loop and the hook calls."""

    def run_epoch(self):
        self.num_batches = 2
        for batch_idx in range(self.num_batches):
            self.batch_idx = batch_idx
            self.before_step()
            self.after_step()


def test_hooks_run_in_registration_order_around_every_event():
    events = []
    trainer = LoopTrainer()
    trainer.register_hooks([Recorder("a", events), None, Recorder("b", events)])
    trainer.train(0, 2)
    expected = [("before_train", None, None)]
    for epoch in range(2):
        expected.append(("before_epoch", epoch, None if epoch == 0 else 1))
        for step in range(2):
            expected += [("before_step", epoch, step), ("after_step", epoch, step)]
        expected.append(("after_epoch", epoch, 1))
    expected.append(("after_train", 1, 1))
    assert events == [(name, *event) for event in expected for name in ("a", "b")]


def test_register_hooks_rejects_other_objects():
    with pytest.raises(TypeError, match="HookBase"):
        LoopTrainer().register_hooks([object()])


def test_a_hook_does_not_keep_its_trainer_alive():
    hook = HookBase()
    assert hook.trainer is None
    trainer = LoopTrainer()
    trainer.register_hooks([hook])
    assert hook.trainer is trainer
    del trainer
    gc.collect()
    assert hook.trainer is None


class Counter(HookBase):
    """Counts epochs; its count is checkpointed and must come back on resume."""

    state_key = "counter"

    def __init__(self):
        self.epochs = 0

    def after_epoch(self):
        self.epochs += 1

    def state_dict(self):
        return {"epochs": self.epochs}

    def load_state_dict(self, state):
        self.epochs = state["epochs"]


def test_hook_state_is_checkpointed_and_restored_on_resume(root, tmp_path):
    cfg = tiny_cfg(root, tmp_path, "TEST.NO_TEST", "True", epochs=2)
    first = build_trainer(cfg)
    counter = Counter()
    first.register_hooks([counter])  # after the engine's: the checkpoint of an epoch holds the count before
    first.train()
    state = torch.load(osp.join(tmp_path, "tiny_model", "model.pth.tar-2"), weights_only=False)
    assert state["trainer_state"]["counter"] == {"epochs": 1}

    cfg2 = tiny_cfg(root, tmp_path, "TEST.NO_TEST", "True", epochs=3)
    second = build_trainer(cfg2)
    resumed = Counter()
    second.register_hooks([resumed])
    second.train()  # resumes after epoch 2 and trains epoch 3
    assert resumed.epochs == 2


def test_two_hooks_cannot_share_a_state_key():
    trainer = LoopTrainer()
    trainer.register_hooks([Counter(), Counter()])
    with pytest.raises(ValueError, match="counter"):
        trainer._hook_states()


def test_simple_trainer_registers_the_engine_hooks_in_order(root, tmp_path):
    trainer = build_trainer(tiny_cfg(root, tmp_path))
    assert [type(h) for h in trainer._hooks] == [BestValCheckpointer, EpochCheckpointer, FinalEvaluation,
                                                 ResultsWriter, TrainingTime]


def test_method_hooks_come_before_the_checkpointers(root, tmp_path):
    events = []

    class WithHook(TinyLinear):
        def method_hooks(self):
            return [Recorder("method", events)]

    trainer = WithHook(tiny_cfg(root, tmp_path))
    assert isinstance(trainer._hooks[0], Recorder)
    assert isinstance(trainer._hooks[1], BestValCheckpointer)


def test_lr_scheduler_hook_steps_after_the_last_step_of_an_epoch_only():
    class Sched:
        steps = 0

        def step(self):
            self.steps += 1

    trainer = LoopTrainer()
    sched = Sched()
    trainer.register_model("m", torch.nn.Linear(1, 1), None, sched)
    trainer.register_hooks([LRScheduler()])
    trainer.train(0, 3)
    assert sched.steps == 3
