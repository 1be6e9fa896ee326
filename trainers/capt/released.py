"""``CAPT.MODE released``: a replica of what the authors' released stage-2 code does (ablation only).

The released code trains DPC's hard-negative optimiser on top of PromptKD instead of the modules of the
paper. What it does, and what the replica does with it:

* text path: the teacher's prompts over the base classes, the first-layer context re-parameterised
  ("converse": ``P' = (ctx - (1 - w) P) / w`` with ``w = SPLE.STACK.WEIGHT``, equal to ``P`` at start);
  trainable: that context, the text deep prompts, the student's vision prompts and its projector
  ``VPT_image_trans``;
* the projector is trained like every other module of the released network: in train mode, so its
  BatchNorm normalises with batch statistics, its running statistics move and its affine parameters
  train (the stage-2 checkpoint carries the moved statistics, used at base-class evaluation);
* hard negatives (:func:`hard_negative_classes`): per anchor, the teacher's top-``SPLE.INFER_TOPK``
  classes minus the anchor's own class and minus every class already in the expanded batch (the batch's
  labels and the negatives drawn for earlier anchors), so no class is drawn twice; topped up at random to
  two when fewer remain. One random pool image (``SPLE.PIC_LIB``) per negative class, test transform;
* loss: a symmetric contrastive loss over the expanded batch (:func:`symmetric_contrastive`), the only loss;
* new classes (:func:`mix_parameters`): the released loader mixes *parameters*, not logits: vision
  prompts ``w_new * stage-2 + (1 - w_new) * stage-1`` with ``w_new = SPLE.STACK.WEIGHT_FOR_NEW``, and the
  projector (weights and BatchNorm statistics) of stage 1; the logits are taken against the stage-1
  teacher's new-class text features. (The released loader also mixes the text context and deep prompts,
  but its new-class logits never use them, so the replica does not.)

Differences kept on purpose: the freshly initialised random projection the released code adds on every
forward call is not reproduced, nor are the upstream defects listed in the spec; the random top-up draws
uniformly from the classes still free (the released code makes up to ``C - 1`` draws from labels
``1..C-1``, so it never picks class 0 and may end with fewer than two).
"""

from __future__ import annotations

import copy
import os
import random

import torch
from torch import nn

from clip import l2_normalize
from dassl.utils import read_image
from trainers.common.base import EvalCacheMixin

from .losses import symmetric_cross_entropy


def hard_negative_classes(ranking: list[list[int]], labels: list[int], topk: int, num_classes: int,
                          rng: random.Random, minimum: int = 2) -> list[list[int]]:
    """Negative classes per anchor, as the released code draws them.

    ``ranking[i]``: class indices of anchor ``i`` ordered by the teacher's score, highest first. The
    candidates of an anchor are the first ``topk`` entries without its own label (``topk - 1`` classes when
    the label is in that window, ``topk`` when it is not); a candidate already in the batch (any anchor's
    label or an earlier anchor's negative) is skipped, so every class appears at most once. When fewer than
    ``minimum`` remain, free classes are added at random until there are ``minimum`` or none is left.
    """
    taken = set(labels)
    out = []
    for row, own in zip(ranking, labels):
        picks = [c for c in row[:topk] if c != own and c not in taken]
        taken.update(picks)
        while len(picks) < minimum:
            free = [c for c in range(num_classes) if c not in taken]
            if not free:
                break
            picks.append(rng.choice(free))
            taken.add(picks[-1])
        out.append(picks)
    return out


def symmetric_contrastive(features: torch.Tensor, text: torch.Tensor, scale) -> torch.Tensor:
    """Row ``i`` of ``features`` [N, D] against row ``i`` of ``text`` [N, D] (its class's text feature),
    every other row a negative, averaged over the image->text and text->image directions."""
    return symmetric_cross_entropy(scale * features @ text.t())


@torch.no_grad()
def mix_parameters(stage1: nn.Module, trained: nn.Module, weight: float) -> nn.Module:
    """A frozen copy of ``stage1`` whose every parameter is ``weight * trained + (1 - weight) * stage1``
    (parameters matched by name; ``weight`` 0 gives stage 1 exactly)."""
    mixed = copy.deepcopy(stage1).requires_grad_(False).eval()
    trained_params = dict(trained.named_parameters())
    for name, param in mixed.named_parameters():
        value = weight * trained_params[name].float() + (1 - weight) * param.float()
        param.copy_(value.to(param.dtype))
    return mixed


class ReleasedModel(EvalCacheMixin, nn.Module):
    """Trainable: student prompts + projector (train mode), text context (converse) + text deep prompts.

    ``stage1_prompts`` / ``stage1_projector`` are frozen copies of the stage-1 student's parts, kept for
    the new-class path; the frozen image encoder is shared with the student.
    """

    def __init__(self, run, teacher, weight: float, weight_for_new: float = 0.0):
        super().__init__()
        self.student = run.student
        self.stage1_prompts = copy.deepcopy(run.student.vision_prompts).requires_grad_(False).eval()
        self.stage1_projector = copy.deepcopy(run.student.VPT_image_trans).requires_grad_(False).eval()
        self.teacher = teacher  # FrozenTeacher over the base classes (image logits for hard negatives)
        vl = teacher.model
        self.text_encoder, self.learner = vl.text_encoder, vl.prompt_learner
        self.text_prompts = copy.deepcopy(vl.text_prompts).requires_grad_(True)
        self.register_buffer("p_teacher", vl.prompt_learner.ctx.detach().float().clone())
        self.ctx = nn.Parameter(self.p_teacher.clone())
        self.weight = float(weight)
        self.weight_for_new = float(weight_for_new)
        self.register_buffer("new_text", run.new_text_features.float().clone(), persistent=False)
        self.register_buffer("scale", run.logit_scale.float().clone(), persistent=False)

    def trainable_params(self):
        return [*self.student.vision_prompts.parameters(), *self.student.VPT_image_trans.parameters(),
                self.ctx, *self.text_prompts.parameters()]

    def train(self, mode: bool = True):
        """The projector follows ``mode`` (its BatchNorm trains, as in the released code); the frozen
        parts (image encoder, teacher, stage-1 copies) stay in eval."""
        super().train(mode)
        self.student.image_encoder.eval()
        self.teacher.eval()
        self.stage1_prompts.eval()
        self.stage1_projector.eval()
        return self

    def base_text(self) -> torch.Tensor:
        w, lr = self.weight, self.learner
        ctx = (self.ctx - (1 - w) * self.p_teacher) / w
        ctx = ctx.to(lr.token_prefix.dtype).unsqueeze(0).expand(lr.n_cls, -1, -1)
        embeds = torch.cat([lr.token_prefix, ctx, lr.token_suffix], dim=1)
        return l2_normalize(self.text_encoder(embeds, lr.eot_indices, prompts=self.text_prompts).float())

    def new_class_prompts(self) -> nn.Module:
        """Vision prompts of the new-class path: ``w_new * stage-2 + (1 - w_new) * stage-1``."""
        return self.cached("new_prompts", lambda: mix_parameters(self.stage1_prompts,
                                                                 self.student.vision_prompts,
                                                                 self.weight_for_new))

    def stage1_features(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised features of the frozen stage-1 student (its own prompts and projector)."""
        tokens = self.student.image_encoder(images, prompts=self.stage1_prompts)
        return l2_normalize(self.stage1_projector(tokens).float())

    def new_class_features(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised features with the mixed vision prompts and the stage-1 projector."""
        tokens = self.student.image_encoder(images, prompts=self.new_class_prompts())
        return l2_normalize(self.stage1_projector(tokens).float())


class ReleasedMode:
    """Loss and inference of the released-code replica (driven by ``CAPTReleased``).

    ``pool``: the image-pool JSON (``SPLE.PIC_LIB``), paths relative to ``prefix``; ``transform``: the test
    transform the released code applies to pool images; ``seed``: the run's seed (negative draws, images).
    """

    def __init__(self, model: ReleasedModel, pool: dict, prefix: str, num_base: int, topk: int, seed: int,
                 transform):
        self.model, self.num_base, self.topk, self.transform = model, num_base, int(topk), transform
        self.pool = {int(label): [os.path.join(prefix, p) for p in paths]
                     for label, paths in pool["train"][0].values()}
        self.rng = random.Random(max(int(seed), 0))

    def negatives(self, image, label) -> list[int]:
        """Hard-negative classes of the batch (see :func:`hard_negative_classes`) that have pool images."""
        ranking = self.model.teacher(image).argsort(dim=1, descending=True).tolist()
        per_anchor = hard_negative_classes(ranking, label.tolist(), self.topk, self.num_base, self.rng)
        return [c for picks in per_anchor for c in picks if self.pool.get(c)]

    def compute_loss(self, image, label):
        """``({"loss_contrastive": ...}, base-class logits of the anchors)``."""
        m = self.model
        classes = self.negatives(image, label)
        imgs = [self.transform(read_image(self.rng.choice(self.pool[c]))) for c in classes]
        batch = torch.cat([image, torch.stack(imgs).to(image)]) if imgs else image
        labels = torch.cat([label, torch.tensor(classes, dtype=torch.long, device=label.device)])
        feats = m.student(batch)
        text = m.base_text()
        loss = symmetric_contrastive(feats, text[labels], m.scale)
        return {"loss_contrastive": loss}, m.scale * feats[: label.shape[0]] @ text.t()

    @torch.no_grad()
    def backbone_logits(self, image):
        """The frozen stage-1 student over the base classes (baseline of the resolved rate); the teacher
        here holds the base classes only, and its text features are stage 1's."""
        m = self.model
        return m.scale * m.stage1_features(image) @ m.teacher.text_features.float().t()

    @torch.no_grad()
    def inference(self, image, split: str):
        m = self.model
        if split == "val":
            return m.scale * m.student(image) @ m.cached("base_text", m.base_text).t()
        return m.scale * m.new_class_features(image) @ m.new_text.t()


def check_released_cfg(cfg) -> None:
    """The replica re-parameterises the teacher's context the released way only (``converse``)."""
    if cfg.SPLE.STACK.MODE not in ("converse", "loop+converse") or not 0 < float(cfg.SPLE.STACK.WEIGHT) <= 1:
        raise ValueError("CAPT.MODE released needs SPLE.STACK.MODE converse and 0 < SPLE.STACK.WEIGHT <= 1, "
                         f"got {cfg.SPLE.STACK.MODE!r} / {cfg.SPLE.STACK.WEIGHT}")
