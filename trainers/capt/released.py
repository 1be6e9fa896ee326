"""``CAPT.MODE released``: a replica of what the authors' released stage-2 code does (ablation only).

The released code trains DPC's hard-negative optimiser on top of PromptKD instead of the modules of the
paper: a text path with the teacher's prompts over the base classes, its context re-parameterised
("converse": ``P' = (ctx - (1 - w) P) / w`` with ``w = SPLE.STACK.WEIGHT``, equal to ``P`` at start), the
student's prompts and projector trainable, hard negatives = the teacher's top-``SPLE.INFER_TOPK`` classes
per anchor (not already in the batch; topped up with random classes below two), one random pool image per
negative class with the test transform, and a symmetric contrastive loss as the only loss. Not reproduced:
the freshly initialised random projection added on every forward call, and the upstream defects listed
in the spec. New classes: ``(1 - w_new) * stage-1 + w_new * trained-student`` logits over the teacher's
new-class text features.
"""

from __future__ import annotations

import copy
import os
import random

import torch
import torch.nn.functional as F
from torch import nn

from dassl.utils import read_image

from .mgde import l2norm


class ReleasedModel(nn.Module):
    """Trainable: student prompts + projector, text context (converse) + text deep prompts."""

    def __init__(self, run, teacher, weight: float):
        super().__init__()
        self.stage1 = copy.deepcopy(run.student).requires_grad_(False).eval()
        self.student = run.student
        self.teacher = teacher  # FrozenTeacher over the base classes (image logits for hard negatives)
        vl = teacher.model
        self.text_encoder, self.learner = vl.text_encoder, vl.prompt_learner
        self.text_prompts = copy.deepcopy(vl.text_prompts).requires_grad_(True)
        self.register_buffer("p_teacher", vl.prompt_learner.ctx.detach().float().clone())
        self.ctx = nn.Parameter(self.p_teacher.clone())
        self.weight = float(weight)
        self.register_buffer("new_text", run.new_text_features.float().clone(), persistent=False)
        self.register_buffer("scale", run.logit_scale.float().clone(), persistent=False)

    def trainable_params(self):
        return [*self.student.vision_prompts.parameters(), *self.student.VPT_image_trans.parameters(),
                self.ctx, *self.text_prompts.parameters()]

    def train(self, mode: bool = True):
        super().train(mode)
        self.stage1.eval()
        self.teacher.eval()
        self.student.VPT_image_trans.eval()  # batch-norm statistics stay those of stage 1
        return self

    def base_text(self) -> torch.Tensor:
        w, lr = self.weight, self.learner
        ctx = (self.ctx - (1 - w) * self.p_teacher) / w
        ctx = ctx.to(lr.token_prefix.dtype).unsqueeze(0).expand(lr.n_cls, -1, -1)
        embeds = torch.cat([lr.token_prefix, ctx, lr.token_suffix], dim=1)
        return l2norm(self.text_encoder(embeds, lr.eot_indices, prompts=self.text_prompts).float())


class ReleasedMode:
    """Loss and inference of the released-code replica, driven by the CAPT trainer."""

    def __init__(self, trainer, model: ReleasedModel, pool: dict, prefix: str):
        self.trainer, self.model = trainer, model
        self.pool = {int(label): [os.path.join(prefix, p) for p in paths]
                     for label, paths in pool["train"][0].values()}
        self.num_base = len(trainer.dm.dataset.base_classnames)
        self.rng = random.Random(max(int(trainer.cfg.SEED), 0))

    def negatives(self, image, label) -> list[int]:
        topk = int(self.trainer.cfg.SPLE.INFER_TOPK)
        teacher = self.model.teacher(image)
        taken = set(label.tolist())
        chosen: list[int] = []
        for row in teacher.argsort(dim=1, descending=True).tolist():
            picks = [c for c in row if c not in taken][:topk]
            while len(picks) < 2:
                spare = [c for c in range(self.num_base) if c not in taken and c not in picks]
                if not spare:
                    break
                picks.append(self.rng.choice(spare))
            taken.update(picks)
            chosen += picks
        return [c for c in chosen if self.pool.get(c)]

    def compute_loss(self, image, label):
        m, tr = self.model, self.trainer
        classes = self.negatives(image, label)
        imgs = [tr.tf_test(read_image(self.rng.choice(self.pool[c]))) for c in classes]
        batch = torch.cat([image, torch.stack(imgs).to(image)]) if imgs else image
        labels = torch.cat([label, torch.tensor(classes, dtype=torch.long, device=label.device)])
        feats = m.student(batch)
        logits = m.scale * feats @ m.base_text()[labels].t()
        target = torch.arange(labels.shape[0], device=labels.device)
        loss = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))
        base_logits = m.scale * feats[: label.shape[0]] @ m.base_text().t()
        return {"loss_contrastive": loss}, {"acc": tr.accuracy(base_logits, label)}

    @torch.no_grad()
    def inference(self, image, split: str):
        m = self.model
        if split == "val":
            return m.scale * m.student(image) @ m.base_text().t()
        w = float(self.trainer.cfg.SPLE.STACK.WEIGHT_FOR_NEW)
        z = m.scale * m.stage1(image) @ m.new_text.t()
        return z if w == 0 else (1 - w) * z + w * (m.scale * m.student(image) @ m.new_text.t())


def build_released(trainer, stage1_dir: str):
    """Build the replica on the CAPT trainer (called from ``CAPT.build_from_stage1``)."""
    from datasets.pool import load_or_build_pool
    from trainers.common.teacher import build_teacher
    from trainers.promptkd import load_promptkd_run

    from . import resources as res

    cfg = trainer.cfg
    if cfg.SPLE.STACK.MODE not in ("converse", "loop+converse") or not 0 < float(cfg.SPLE.STACK.WEIGHT) <= 1:
        raise ValueError("CAPT.MODE released needs SPLE.STACK.MODE converse and 0 < SPLE.STACK.WEIGHT <= 1, "
                         f"got {cfg.SPLE.STACK.MODE!r} / {cfg.SPLE.STACK.WEIGHT}")
    dataset = trainer.dm.dataset
    names = list(dataset.all_classnames)
    epoch = res.stage1_epoch(stage1_dir, cfg.SPLE.BACK_CKPT_EPOCH)
    run = load_promptkd_run(cfg, stage1_dir, epoch=epoch, device=trainer.device, classnames=names,
                            precision=trainer.weight_precision)
    teacher = build_teacher(cfg, names[: run.num_base], trainer.device, trainer.weight_precision)
    model = ReleasedModel(run, teacher, float(cfg.SPLE.STACK.WEIGHT)).to(trainer.device)
    pool = load_or_build_pool(cfg.SPLE.PIC_LIB, cfg)
    trainer.released = ReleasedMode(trainer, model, pool, dataset.split_prefix)
    meta = {"stage1_dir": os.path.abspath(stage1_dir), "stage1_checkpoint": run.checkpoint,
            "stage1_epoch": run.epoch, "base_classnames": names[: run.num_base], "mode": "released"}
    parts = ReleasedParts(model, meta)
    trainer.network = model
    trainer.finish_build(model, parts, meta)


class ReleasedParts(nn.Module):
    """Checkpointed part of the replica: the trainable tensors and the stage-1 metadata."""

    def __init__(self, model: ReleasedModel, meta: dict):
        super().__init__()
        self.vision_prompts = model.student.vision_prompts
        self.VPT_image_trans = model.student.VPT_image_trans
        self.text_prompts = model.text_prompts
        self.ctx = model.ctx
        self.meta = dict(meta)

    def get_extra_state(self):
        return dict(self.meta)

    def set_extra_state(self, state):
        self.meta = dict(state or {})
