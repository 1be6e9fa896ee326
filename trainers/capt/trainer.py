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
      always that file's (rebuilt when it was built from other weights,
      :func:`trainers.capt.builder.ensure_bank`);
    * checkpoints (folder ``CAPT/``) hold the adapters, MGDE and metadata naming the stage-1 run, its
      weights (file + sha256) and ``CAPT.MODE``; loading them checks both and is strict;
    * every base-class evaluation also scores the frozen backbone (``backbone_wrong_predictions.json``),
      the baseline of the resolved-errors rate;
    * ``CAPT.MODE released``: ``CAPT`` builds :class:`~trainers.capt.released_trainer.CAPTReleased`, the
      DPC-style replica of the authors' released code (ablation, :mod:`trainers.capt.released`).

The shared stage-2 machinery (stage-1 load, checkpoints, evaluation) is :mod:`trainers.capt.stage2`.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

from dassl.engine import TRAINER_REGISTRY
from trainers.common.losses import kd_loss

from .builder import ensure_bank
from .config import parse_layers
from .images import BankImages
from .losses import confusion_infonce, load_balance
from .model import CaptNetwork, CaptSettings
from .released_trainer import CAPTReleased
from .retrieval import BankRetriever
from .stage2 import CaptStage2

log = logging.getLogger(__name__)


def settings_from_cfg(cfg) -> CaptSettings:
    a = cfg.CAPT.ADAPTER
    return CaptSettings(topk=int(cfg.CAPT.SEM.TOPK), count_mode=cfg.CAPT.SEM.COUNT_MODE,
                        n_rep=int(cfg.CAPT.SAM.N_REP), alpha=float(a.SCALE),
                        dynamic_alpha=bool(a.DYNAMIC_ALPHA), alpha_s=float(a.ALPHA_S),
                        alpha_gamma=float(a.ALPHA_GAMMA))


@TRAINER_REGISTRY.register()
class CAPT(CaptStage2):
    """Confusion-aware prompt tuning on a frozen PromptKD stage 1 (see the module docstring)."""

    def __new__(cls, cfg=None, *args, **kwargs):
        """``CAPT.MODE released`` is its own trainer; the published command lines name ``CAPT``."""
        if cfg is not None and cfg.CAPT.MODE == "released":
            return CAPTReleased(cfg, *args, **kwargs)
        return super().__new__(cls)

    def __init__(self, cfg, *args, **kwargs):
        self.needs_base_teacher = float(cfg.SPLE.LOSS_KD_WEIGHT) > 0  # the KD term's teacher
        super().__init__(cfg, *args, **kwargs)

    # ------------------------------------------------------------------ building
    def build_from(self, stage1):
        """The network over the frozen student, with the bank of exactly its weights (one call)."""
        cfg, run = self.cfg, stage1.run
        bank = ensure_bank(cfg, stage1, self.device)
        self.teacher = stage1.teacher
        visual = run.student.image_encoder
        net = CaptNetwork(
            run.student, run.text_features, run.num_base, run.logit_scale,
            parse_layers(cfg.CAPT.ADAPTER.LAYERS, visual.transformer.layers), settings_from_cfg(cfg),
            int(cfg.CAPT.ADAPTER.KERNEL_SIZE), bool(cfg.CAPT.ADAPTER.MLP_BRANCH),
            int(cfg.CAPT.MGDE.N_SAMPLE_EXPERTS), int(cfg.CAPT.MGDE.TOPK), float(cfg.CAPT.MGDE.BETA),
            cfg.CAPT.MGDE.FFN_INIT, guidance=stage1.guidance, bank_n=bank["N"], retriever=BankRetriever(bank),
            load_images=BankImages(bank["paths"], self.tf_train, self.tf_test, int(cfg.CAPT.SAM.IMAGE_CACHE)))
        log.info(f"MGDE works in the teacher text space ({run.text_features.shape[1]}-d); adapters in the "
                 f"student ViT width ({visual.width}); sample expert initialised from the last block: "
                 f"{net.mgde.samples[0].initialised_from_block if len(net.mgde.samples) else 'n/a'}")
        net = net.to(self.device)
        return net, {"adapters": net.adapters, "mgde": net.mgde}

    # ------------------------------------------------------------------ training
    def parse_batch_train(self, batch):
        """Images, labels and the batch's own bank entries (never retrieved as their representatives)."""
        return (batch["img"].to(self.device), batch["label"].to(self.device),
                self.model.bank_indices(batch["impath"]))

    def compute_loss(self, image, label, bank_index=None):
        cfg, net = self.cfg, self.model
        out = net(image, "base", use_bank=True, exclude=bank_index, train_views=True)
        feats, labels = [out.feature], [label]
        if out.rep_index is not None:
            cap = int(cfg.SPLE.INFER_TOPK)
            idx, reps = out.rep_index[:, :cap], out.rep_features[:, :cap]
            keep = idx >= 0
            feats.append(reps.flatten(0, 1)[keep.flatten().nonzero().flatten().to(reps.device)])
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
            kd = kd_loss(out.logits, self.teacher(image), float(cfg.TRAINER.PROMPTKD.TEMPERATURE))
            losses["loss_kd"] = float(cfg.SPLE.LOSS_KD_WEIGHT) * kd
        return losses, {"acc": self.accuracy(out.logits, label)}

    # ------------------------------------------------------------------ evaluation
    def inference(self, image, split: str, backbone: bool):
        net = self.model
        if split == "val":
            out = net(image, "base", use_bank=bool(self.cfg.CAPT.INFER.USE_BANK))
            return out.logits, out.stage1_logits if backbone else None
        w = float(self.cfg.SPLE.STACK.WEIGHT_FOR_NEW)
        z = net.stage1(image, "new")[0]
        if w == 0:
            return z, None
        return (1 - w) * z + w * net(image, "new", use_bank=False).logits, None


@TRAINER_REGISTRY.register()
class StackSPLE_PromptKD(CAPT):  # noqa: N801  (the name of the published command line)
    """The published stage-2 trainer name; identical to :class:`CAPT`."""
