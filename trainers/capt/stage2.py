"""What every CAPT stage-2 trainer shares: one stage-1 load, checkpoints that name it, base/new evaluation.

A stage-2 trainer (the paper's :class:`~trainers.capt.trainer.CAPT`, the released-code replica
:class:`~trainers.capt.released_trainer.CAPTReleased`) supplies:

* ``build_from(stage1)`` -> ``(model, {name: module or parameter a checkpoint holds})`` from a loaded
  :class:`~.resources.Stage1`;
* ``compute_loss(image, label, ...)`` (the extra arguments are what its ``parse_batch_train`` returns);
* ``inference(image, split, backbone)`` -> (logits, frozen-backbone logits or None) for the evaluated
  split; ``backbone`` says whether the frozen backbone's logits are wanted (they are scored once per split).

Everything else (the stage-1 load, freezing, optimiser, the stage-2 metadata, loading weights with checks,
the new-class re-run, scoring the frozen backbone beside base-class evaluations) lives here once.
"""

from __future__ import annotations

import logging
import os

import torch
from torch import nn

from dassl.data.transforms import build_transform
from dassl.engine.reporting import write_wrong_predictions
from dassl.engine.selection import is_clean
from dassl.evaluation import build_evaluator
from dassl.optim import build_lr_scheduler, build_optimizer
from dassl.run_dir import BACKBONE_WRONG_FILE, RESULTS_FILE, choose_checkpoint, is_best_file
from dassl.utils import load_checkpoint
from trainers.common.base import ClipTrainer, freeze_all_but, report_trainable

from . import stage2_meta
from .config import check_capt_cfg
from .resources import STUDENT_FOLDER, check_stage1_dir, load_stage1

log = logging.getLogger(__name__)


class Stage2Parts(nn.Module):
    """What a stage-2 checkpoint holds: the trainable modules and (as extra state) where stage 1 lives."""

    def __init__(self, members: dict[str, nn.Module | nn.Parameter], meta: dict):
        super().__init__()
        for name, member in members.items():
            if isinstance(member, nn.Parameter):
                self.register_parameter(name, member)
            else:
                self.register_module(name, member)
        self.meta = dict(meta)

    def get_extra_state(self):
        return dict(self.meta)

    def set_extra_state(self, state):
        self.meta = dict(state or {})


class BackboneTee:
    """Evaluator stand-in that also scores the frozen stage-1 logits queued for each batch."""

    def __init__(self, main, side):
        self.main, self.side, self.pending, self.side_processed = main, side, [], False

    def process(self, mo, gt, impaths=None):
        if self.pending:
            self.side.process(self.pending.pop(0), gt, impaths=impaths)
            self.side_processed = True
        return self.main.process(mo, gt, impaths=impaths)

    def __getattr__(self, name):
        return getattr(self.main, name)


class CaptStage2(ClipTrainer):
    """Shared stage-2 machinery (see the module docstring); not registered itself."""

    model_name = "CAPT"
    prec_key = "PROMPTKD"
    data_wiring = "stage2"
    distributed_unsupported = (
        "stage 2 builds the Confusion Bank and writes its stage metadata while the model is built, and "
        "retrieves bank images for each training batch; none of this is shared between processes"
    )
    val_is_test = True  # split "val" is the base-class test set
    mode = "paper"  # the CAPT.MODE this trainer builds (recorded in its checkpoints)
    needs_guidance = True  # SEM tokens from the teacher's text tower
    needs_base_teacher = False  # a frozen teacher over the base classes

    def check_cfg(self, cfg):
        super().check_cfg(cfg)
        check_capt_cfg(cfg)
        if cfg.TRAINER.MODAL != "base2novel":
            raise ValueError(f"CAPT needs TRAINER.MODAL base2novel, got {cfg.TRAINER.MODAL!r}")

    # ------------------------------------------------------------------ building
    def build_model(self):
        self.tf_train = build_transform(self.cfg, is_train=True)
        self.tf_test = build_transform(self.cfg, is_train=False)
        self._backbone_reports: dict[str, dict] = {}  # split -> the frozen backbone's scores on it
        stage1 = self.cfg.SPLE.BACK_CKPT_PATH
        if not os.path.isdir(os.path.join(stage1, STUDENT_FOLDER)):
            log.warning(f"Note: SPLE.BACK_CKPT_PATH={stage1!r} is not a stage-1 run; the model is built when "
                        f"weights are loaded (--model-dir) from the stage-2 metadata")
            return
        self.build_from_stage1(stage1)

    def build_from_stage1(self, stage1_dir: str):
        """Load stage 1 once, build the network on it, freeze, register, write the stage-2 metadata."""
        stage1 = load_stage1(self.cfg, stage1_dir, list(self.dm.dataset.all_classnames), self.device,
                             self.weight_precision, guidance=self.needs_guidance,
                             base_teacher=self.needs_base_teacher)
        model, members = self.build_from(stage1)
        meta = stage1.meta(self.mode)
        parts = Stage2Parts(members, meta)
        self.model = model
        self.stage2_meta = dict(meta)
        params = freeze_all_but(model, list(model.trainable_params()))
        report_trainable(model, params)
        self.optim = build_optimizer(params, self.cfg.OPTIM)
        self.sched = build_lr_scheduler(self.optim, self.cfg.OPTIM)
        self.register_model(self.model_name, parts, self.optim, self.sched)
        self.scaler = None
        if self.cfg.DATASET.SUBSAMPLE_CLASSES == "base":
            stage2_meta.write_stage2_meta(self.output_dir, meta)

    def build_from(self, stage1):  # pragma: no cover - abstract
        raise NotImplementedError

    def load_model(self, directory, epoch=None):
        if not self._models:
            if not directory:
                raise FileNotFoundError("CAPT: no stage-1 run (SPLE.BACK_CKPT_PATH) and no --model-dir given")
            self.build_from_stage1(stage2_meta.read_stage2_meta(directory)["stage1_dir"])
        folder = os.path.join(directory or "", self.model_name)
        if directory and os.path.isdir(folder):
            # runs without best-val selection have no best file and end with their last epoch
            self.load_stage2(choose_checkpoint(folder, epoch, clean=is_clean(self.cfg),
                                               fallback_to_last=epoch is None))
        elif directory:
            log.warning(f"Note: no CAPT weights in {directory}; evaluating the zero-initialised stage 2 "
                        f"(= stage 1)")

    def load_stage2(self, path: str):
        """Load stage-2 weights after checking their stage-1 weights and mode; strict about every key."""
        checkpoint = load_checkpoint(path)
        state = checkpoint["state_dict"]
        stage2_meta.check_stage2_checkpoint(path, state.get("_extra_state") or {}, self.stage2_meta)
        try:
            self._models[self.model_name].load_state_dict(state, strict=True)
        except RuntimeError as err:
            raise ValueError(f"{path} does not match the CAPT modules built from the config: {err}") from err
        self.weights_epoch, self.weights_file = checkpoint.get("epoch"), path
        log.info(f'Loaded CAPT weights from "{path}" (epoch = {self.weights_epoch}); stage 1: '
                 f'{self.stage2_meta["stage1_checkpoint"]}')

    # ------------------------------------------------------------------ training
    def train(self):
        if not self._models:
            check_stage1_dir(self.cfg.SPLE.BACK_CKPT_PATH)
        if self.cfg.DATASET.SUBSAMPLE_CLASSES == "new":
            return self.evaluate_new_rerun()
        return super().train()

    def evaluate_new_rerun(self):
        """``SUBSAMPLE_CLASSES new`` re-run: no training on new classes; evaluate the new-class test set."""
        log.info("DATASET.SUBSAMPLE_CLASSES new: CAPT does not train on new classes; evaluating the "
                 "new-class test split with the stage-2 weights of the output directory (if any)")
        run_dir = self.output_dir
        if os.path.isdir(os.path.join(run_dir, self.model_name)):
            self.load_model(run_dir)
        if os.path.isfile(os.path.join(run_dir, RESULTS_FILE)):
            # keep the base-class results of the stage-2 run; the new-class results go next to them
            self.output_dir = os.path.join(run_dir, "new_classes")
            os.makedirs(self.output_dir, exist_ok=True)
            log.info(f"New-class results are written to {self.output_dir}")
        return self.test("test")

    # ------------------------------------------------------------------ evaluation
    def test(self, split=None):
        split = split or self.cfg.TEST.SPLIT
        new_only = self.cfg.DATASET.SUBSAMPLE_CLASSES == "new"
        if new_only or not (split == "val" and self.val_loader is not None):
            split = "test"
        self._eval_split = split  # the evaluated split's own items name its classes (dassl trainer)
        if split != "val":
            return super().test(split)
        # The frozen backbone gives the same predictions on every evaluation of a split: scored once.
        report = self._backbone_reports.get(split)
        if report is not None:
            result = super().test(split)
        else:
            main = self.evaluator
            tee = self._tee = BackboneTee(main, build_evaluator(self.cfg, lab2cname=self.lab2cname))
            self.evaluator = tee
            try:
                result = super().test(split)
            finally:
                self.evaluator, self._tee = main, None
            if tee.side_processed:
                report = self._backbone_reports[split] = self.backbone_report(tee.side)
        if report is not None:
            self.write_backbone_predictions(report, split)
        return result

    def backbone_report(self, side) -> dict:
        """What ``backbone_wrong_predictions.json`` holds, from the evaluator that scored the backbone."""
        names = self.eval_lab2cname()
        side.set_class_names(names)
        summary = side.summary()
        return {"classnames": [names[i] for i in sorted(names)], "total": summary["total"],
                "wrong": side.wrong_predictions(), "accuracy": summary["accuracy"]}

    def write_backbone_predictions(self, report: dict, split: str):
        """The frozen stage-1 backbone's errors on the evaluated split: the resolved rate's baseline."""
        path = os.path.join(self.output_dir, BACKBONE_WRONG_FILE)
        write_wrong_predictions(path, split, report["classnames"], report["total"], report["wrong"],
                                accuracy=report["accuracy"],
                                stage1_weights=self.stage2_meta["stage1_weights"])
        log.info(f"Frozen stage-1 backbone on the *{split}* set: accuracy {report['accuracy']:.2f}% ({path})")

    def weights_selected_on_test(self) -> bool:
        """Own best-val selection, or a frozen backbone that PromptKD selected on the base test set."""
        stage1 = getattr(self, "stage2_meta", {}).get("stage1_checkpoint")
        return super().weights_selected_on_test() or is_best_file(stage1)

    @torch.no_grad()
    def model_inference(self, image):
        """Evaluation logits in fp32, computed under the run's autocast as training is; on base-class
        evaluations the frozen backbone's logits go to the evaluator's side."""
        tee = getattr(self, "_tee", None)
        with self.autocast():
            logits, backbone = self.inference(image, getattr(self, "_eval_split", "val"), tee is not None)
            if backbone is not None:  # asked for only while a tee is set
                tee.pending.append(backbone.float())
            return logits.float()

    def inference(self, image, split: str, backbone: bool):  # pragma: no cover - abstract
        raise NotImplementedError
