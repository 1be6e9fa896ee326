"""CAPT stage 2 (trainer ``CAPT``, alias ``StackSPLE_PromptKD`` for the published command line).

Features:
    * frozen stage-1 PromptKD student from ``SPLE.BACK_CKPT_PATH`` (checkpoint ``SPLE.BACK_CKPT_EPOCH``),
      teacher class text features, and the Confusion Bank of that run (built there when missing);
    * trainable: Diff-Manner Adapters (``CAPT.ADAPTER.*``) and MGDE (``CAPT.MGDE.*``) only; both start at
      zero, so training starts exactly at stage 1;
    * loss: ``ORI_WEIGHT`` * CE + ``CONF_WEIGHT`` * symmetric InfoNCE over anchors and representatives +
      ``MGDE.LB_WEIGHT`` * load balance (+ optional ``SPLE.LOSS_KD_WEIGHT`` * KD to the teacher);
    * data ("stage2" wiring): few-shot base classes for training, split ``val`` = base test, ``test`` = new
      test; new classes use ``(1 - w) * stage-1 + w * CAPT`` logits with w = ``SPLE.STACK.WEIGHT_FOR_NEW``;
    * ``DATASET.SUBSAMPLE_CLASSES new`` never trains: it evaluates the new-class test split with the weights
      found in the output directory (the upstream "re-run with new" habit);
    * the frozen stage-1 file follows the released precedence (``CAPT.STAGE1_CHECKPOINT``); the bank is
      always that file's (rebuilt when it was built from other weights, :mod:`trainers.capt.resources`);
    * checkpoints (folder ``CAPT/``) hold the adapters, MGDE and metadata naming the stage-1 run, its
      weights (file + sha256) and ``CAPT.MODE``; loading them checks both and is strict;
    * every base-class evaluation also scores the frozen backbone (``backbone_wrong_predictions.json``),
      the baseline of the resolved-errors rate;
    * ``CAPT.MODE released``: the DPC-style replica of the authors' released code (ablation,
      :mod:`trainers.capt.released`).
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from dassl.data.transforms import build_transform
from dassl.engine import TRAINER_REGISTRY
from dassl.engine.reporting import write_wrong_predictions
from dassl.engine.selection import is_clean
from dassl.evaluation import build_evaluator
from dassl.optim import build_lr_scheduler, build_optimizer
from dassl.run_dir import BACKBONE_WRONG_FILE, RESULTS_FILE, choose_checkpoint, is_best_file
from dassl.utils import load_checkpoint, read_image
from trainers.common.base import ClipTrainer, freeze_all_but, report_trainable
from trainers.common.losses import kd_loss
from trainers.common.provenance import checkpoint_identity

from . import resources as res
from .config import check_capt_cfg, parse_layers
from .losses import confusion_infonce, load_balance
from .model import CaptNetwork, CaptSettings
from .sam import BankRetriever, ImageLoader


class TrainableParts(nn.Module):
    """What a CAPT checkpoint holds: adapters, MGDE and (as extra state) where stage 1 lives."""

    def __init__(self, network: CaptNetwork, meta: dict):
        super().__init__()
        self.adapters, self.mgde, self.meta = network.adapters, network.mgde, dict(meta)

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


def settings_from_cfg(cfg) -> CaptSettings:
    a = cfg.CAPT.ADAPTER
    return CaptSettings(topk=int(cfg.CAPT.SEM.TOPK), count_mode=cfg.CAPT.SEM.COUNT_MODE,
                        n_rep=int(cfg.CAPT.SAM.N_REP), alpha=float(a.SCALE),
                        dynamic_alpha=bool(a.DYNAMIC_ALPHA), alpha_s=float(a.ALPHA_S),
                        alpha_gamma=float(a.ALPHA_GAMMA))


@TRAINER_REGISTRY.register()
class CAPT(ClipTrainer):
    """Confusion-aware prompt tuning on a frozen PromptKD stage 1 (see the module docstring)."""

    model_name = "CAPT"
    prec_key = "PROMPTKD"
    data_wiring = "stage2"
    distributed_unsupported = (
        "stage 2 builds the Confusion Bank and writes its stage metadata while the model is built, and "
        "retrieves bank images for each training batch; none of this is shared between processes"
    )
    val_is_test = True  # split "val" is the base-class test set

    def check_cfg(self, cfg):
        super().check_cfg(cfg)
        check_capt_cfg(cfg)
        if cfg.TRAINER.MODAL != "base2novel":
            raise ValueError(f"CAPT needs TRAINER.MODAL base2novel, got {cfg.TRAINER.MODAL!r}")

    # ------------------------------------------------------------------ building
    def build_model(self):
        self.tf_train = build_transform(self.cfg, is_train=True)
        self.tf_test = build_transform(self.cfg, is_train=False)
        self.network = None
        stage1 = self.cfg.SPLE.BACK_CKPT_PATH
        if not os.path.isdir(os.path.join(stage1, res.STUDENT_FOLDER)):
            print(f"Note: SPLE.BACK_CKPT_PATH={stage1!r} is not a stage-1 run; the model is built when "
                  f"weights are loaded (--model-dir) from the stage-2 metadata")
            return
        self.build_from_stage1(stage1)

    def build_from_stage1(self, stage1_dir: str):
        cfg = self.cfg
        res.check_stage1_dir(stage1_dir)
        if cfg.CAPT.MODE == "released":
            from .released import build_released

            return build_released(self, stage1_dir)
        from trainers.promptkd import load_promptkd_run

        dataset = self.dm.dataset
        names = list(dataset.all_classnames)
        epoch = res.resolve_stage1(cfg, stage1_dir)
        run = load_promptkd_run(cfg, stage1_dir, epoch=epoch, device=self.device, classnames=names,
                                precision=self.weight_precision)
        frozen = checkpoint_identity(run.checkpoint, run.epoch)
        bank = res.load_or_build_bank(cfg, stage1_dir, run, frozen, self.device)
        if bank["classnames"] != names[: run.num_base]:
            raise ValueError(f"{res.bank_path(cfg, stage1_dir)} was built for classes {bank['classnames']}, "
                             f"but the base classes are {names[: run.num_base]}; delete it to rebuild")
        visual = run.student.image_encoder
        net = CaptNetwork(
            run.student, run.text_features, run.num_base, run.logit_scale,
            parse_layers(cfg.CAPT.ADAPTER.LAYERS, visual.transformer.layers), settings_from_cfg(cfg),
            int(cfg.CAPT.ADAPTER.KERNEL_SIZE), bool(cfg.CAPT.ADAPTER.MLP_BRANCH),
            int(cfg.CAPT.MGDE.N_SAMPLE_EXPERTS), int(cfg.CAPT.MGDE.TOPK), float(cfg.CAPT.MGDE.BETA),
            cfg.CAPT.MGDE.FFN_INIT)
        print(f"MGDE works in the teacher text space ({run.text_features.shape[1]}-d); adapters in the "
              f"student ViT width ({visual.width}); sample expert initialised from the last block: "
              f"{net.mgde.samples[0].initialised_from_block if len(net.mgde.samples) else 'n/a'}")
        encoder = res.TeacherTextEncoder(cfg, self.device)
        net.guidance["base"] = res.guidance_for(cfg, stage1_dir, names[: run.num_base],
                                                run.base_text_features, encoder)
        if float(cfg.SPLE.STACK.WEIGHT_FOR_NEW) > 0:
            net.guidance["new"] = res.guidance_for(cfg, stage1_dir, names[run.num_base:],
                                                   run.new_text_features, encoder)
        net.bank_n = bank["N"]
        paths = [os.path.realpath(p) for p in bank["paths"]]
        net.retriever = BankRetriever({**bank, "paths": paths})
        loader = ImageLoader(paths, read_image, int(cfg.CAPT.SAM.IMAGE_CACHE))
        net.load_images = lambda idx, train: loader.load(idx, self.tf_train if train else self.tf_test)
        self.network = net.to(self.device)
        meta = res.stage2_meta(cfg, stage1_dir, run, frozen, names[: run.num_base])
        self.parts = TrainableParts(net, meta)
        self.finish_build(self.network, self.parts, meta)

    def finish_build(self, model: nn.Module, registered: nn.Module, meta: dict):
        """Freeze, build optimiser/scheduler, register, write the stage-2 metadata."""
        self.model = model
        self.stage2_meta = dict(meta)
        params = freeze_all_but(model, list(model.trainable_params()))
        report_trainable(model, params)
        self.optim = build_optimizer(params, self.cfg.OPTIM)
        self.sched = build_lr_scheduler(self.optim, self.cfg.OPTIM)
        self.register_model(self.model_name, registered, self.optim, self.sched)
        self.scaler = None
        if self.cfg.DATASET.SUBSAMPLE_CLASSES == "base":
            res.write_stage2_meta(self.output_dir, meta)

    def load_model(self, directory, epoch=None):
        if self.network is None and not self._models:
            if not directory:
                raise FileNotFoundError("CAPT: no stage-1 run (SPLE.BACK_CKPT_PATH) and no --model-dir given")
            self.build_from_stage1(res.read_stage2_meta(directory)["stage1_dir"])
        folder = os.path.join(directory or "", self.model_name)
        if directory and os.path.isdir(folder):
            # runs without best-val selection have no best file and end with their last epoch
            self.load_stage2(choose_checkpoint(folder, epoch, clean=is_clean(self.cfg),
                                               fallback_to_last=epoch is None))
        elif directory:
            print(f"Note: no CAPT weights in {directory}; evaluating the zero-initialised stage 2 "
                  f"(= stage 1)")

    def load_stage2(self, path: str):
        """Load stage-2 weights after checking their stage-1 weights and mode; strict about every key."""
        checkpoint = load_checkpoint(path)
        state = checkpoint["state_dict"]
        res.check_stage2_checkpoint(path, state.get("_extra_state") or {}, self.stage2_meta)
        try:
            self._models[self.model_name].load_state_dict(state, strict=True)
        except RuntimeError as err:
            raise ValueError(f"{path} does not match the CAPT modules built from the config: {err}") from err
        self.weights_epoch, self.weights_file = checkpoint.get("epoch"), path
        print(f'Loaded CAPT weights from "{path}" (epoch = {self.weights_epoch}); stage 1: '
              f'{self.stage2_meta["stage1_checkpoint"]}')

    # ------------------------------------------------------------------ training
    def train(self):
        if not self._models:
            res.check_stage1_dir(self.cfg.SPLE.BACK_CKPT_PATH)
        if self.cfg.DATASET.SUBSAMPLE_CLASSES == "new":
            return self.evaluate_new_rerun()
        return super().train()

    def evaluate_new_rerun(self):
        """``SUBSAMPLE_CLASSES new`` re-run: no training on new classes; evaluate the new-class test set."""
        print("DATASET.SUBSAMPLE_CLASSES new: CAPT does not train on new classes; evaluating the new-class "
              "test split with the stage-2 weights of the output directory (if any)")
        run_dir = self.output_dir
        if os.path.isdir(os.path.join(run_dir, self.model_name)):
            self.load_model(run_dir)
        if os.path.isfile(os.path.join(run_dir, RESULTS_FILE)):
            # keep the base-class results of the stage-2 run; the new-class results go next to them
            self.output_dir = os.path.join(run_dir, "new_classes")
            os.makedirs(self.output_dir, exist_ok=True)
            print(f"New-class results are written to {self.output_dir}")
        return self.test("test")

    def parse_batch_train(self, batch):
        self._impaths = [os.path.realpath(p) for p in batch["impath"]]
        return batch["img"].to(self.device), batch["label"].to(self.device)

    def compute_loss(self, image, label):
        if self.cfg.CAPT.MODE == "released":
            return self.released.compute_loss(image, label)
        cfg, net = self.cfg, self.model
        index_of = net.retriever.index_of if net.retriever else {}
        exclude = [index_of.get(p) for p in getattr(self, "_impaths", [None] * len(label))]
        out = net(image, "base", use_bank=True, exclude=exclude, train_views=True)
        feats, labels = [out.feature], [label]
        if out.rep_index is not None:
            cap = int(cfg.SPLE.INFER_TOPK)
            idx, reps = out.rep_index[:, :cap], out.rep_features[:, :cap]
            keep = idx >= 0
            feats.append(reps[keep.to(reps.device)])
            labels.append(net.retriever.labels[idx[keep]].to(label.device))
        feats, labels = torch.cat(feats), torch.cat(labels)
        text = net.text_features[: net.num_base][labels]
        losses = {
            "loss_ori": float(cfg.CAPT.LOSS.ORI_WEIGHT) * F.cross_entropy(out.logits.float(), label),
            "loss_confuse": float(cfg.CAPT.LOSS.CONF_WEIGHT) * confusion_infonce(feats, text, labels,
                                                                                  net.logit_scale),
            "loss_lb": float(cfg.CAPT.MGDE.LB_WEIGHT) * load_balance(out.router_probs),
        }
        if float(cfg.SPLE.LOSS_KD_WEIGHT) > 0:
            kd = kd_loss(out.logits, self.teacher_logits(image), float(cfg.TRAINER.PROMPTKD.TEMPERATURE))
            losses["loss_kd"] = float(cfg.SPLE.LOSS_KD_WEIGHT) * kd
        return losses, {"acc": self.accuracy(out.logits, label)}

    @torch.no_grad()
    def teacher_logits(self, image):
        if getattr(self, "_teacher", None) is None:
            from trainers.common.teacher import build_teacher

            self._teacher = build_teacher(self.cfg, list(self.dm.dataset.base_classnames), self.device,
                                          self.weight_precision)
        return self._teacher(image)

    # ------------------------------------------------------------------ evaluation
    def test(self, split=None):
        split = split or self.cfg.TEST.SPLIT
        new_only = self.cfg.DATASET.SUBSAMPLE_CLASSES == "new"
        if new_only or not (split == "val" and self.val_loader is not None):
            split = "test"
        self._eval_split = split  # the evaluated split's own items name its classes (dassl trainer)
        if split != "val":
            return super().test(split)
        main = self.evaluator
        tee = self._tee = BackboneTee(main, build_evaluator(self.cfg, lab2cname=self.lab2cname))
        self.evaluator = tee
        try:
            result = super().test(split)
        finally:
            self.evaluator, self._tee = main, None
        if tee.side_processed:
            self.write_backbone_predictions(tee.side, split)
        return result

    def write_backbone_predictions(self, side, split: str):
        """The frozen stage-1 backbone's errors on the evaluated split: the resolved rate's baseline."""
        names = getattr(self, "_eval_lab2cname", None) or self.lab2cname
        side.set_class_names(names)
        summary = side.summary()
        path = os.path.join(self.output_dir, BACKBONE_WRONG_FILE)
        write_wrong_predictions(path, split, [names[i] for i in sorted(names)], summary["total"],
                                side.wrong_predictions(), accuracy=summary["accuracy"],
                                stage1_weights=self.stage2_meta["stage1_weights"])
        print(f"Frozen stage-1 backbone on the *{split}* set: accuracy {summary['accuracy']:.2f}% ({path})")

    def weights_selected_on_test(self) -> bool:
        """Own best-val selection, or a frozen backbone that PromptKD selected on the base test set."""
        stage1 = getattr(self, "stage2_meta", {}).get("stage1_checkpoint")
        return super().weights_selected_on_test() or is_best_file(stage1)

    def queue_backbone_logits(self, logits):
        if getattr(self, "_tee", None) is not None:
            self._tee.pending.append(logits.float())

    @torch.no_grad()
    def model_inference(self, image):
        """Evaluation logits in fp32, computed under the run's autocast as training is."""
        with self.autocast():
            return self._inference_logits(image).float()

    def _inference_logits(self, image):
        if self.cfg.CAPT.MODE == "released":
            split = getattr(self, "_eval_split", "val")
            if split == "val":
                self.queue_backbone_logits(self.released.backbone_logits(image))
            return self.released.inference(image, split)
        net = self.model
        if getattr(self, "_eval_split", "val") == "val":
            out = net(image, "base", use_bank=bool(self.cfg.CAPT.INFER.USE_BANK))
            self.queue_backbone_logits(out.stage1_logits)
            return out.logits
        w = float(self.cfg.SPLE.STACK.WEIGHT_FOR_NEW)
        z = net.stage1(image, "new")[0]
        if w == 0:
            return z
        return (1 - w) * z + w * net(image, "new", use_bank=False).logits


@TRAINER_REGISTRY.register()
class StackSPLE_PromptKD(CAPT):  # noqa: N801  (the name of the published command line)
    """The published stage-2 trainer name; identical to :class:`CAPT`."""
