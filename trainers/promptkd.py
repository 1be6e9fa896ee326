"""PromptKD: unsupervised prompt distillation from a frozen PromptSRC teacher (also CAPT's stage 1).

Features:
    * teacher: an IVLP-design CLIP of ``TRAINER.PROMPTKD.TEACHER_NAME`` (depth ``TEACHER_DEPTH``,
      ``TEACHER_N_CTX`` tokens per branch; upstream fixes 9 and 4) loaded from a PromptSRC checkpoint
      (``trainers/common/teacher.py``); frozen, permanently in eval mode, never saved. Its class text
      features are encoded once per run, over every class of the dataset;
    * student: the CLIP image tower of ``MODEL.BACKBONE.NAME`` with IVLP vision prompts
      (``N_CTX_VISION``, ``PROMPT_DEPTH_VISION``) and ``VPT_image_trans``, a 1x1-conv MLP mapping its
      features into the teacher's embedding space; it has no text branch;
    * loss: ``KD_WEIGHT`` * tau^2-scaled KL between teacher and student logits over the teacher's text
      features (``TEMPERATURE`` tau); labels are never used;
    * data ("promptkd" wiring): ``TRAINER.MODAL base2novel`` trains on every class of the train split
      (``NUM_SHOTS 0`` = the whole split, unlabelled) and evaluates split ``val`` = base-class test images
      against the base half of the teacher's text features, split ``test`` = new-class test images
      against the new half; ``cross`` trains and tests on all classes of the target dataset.
      ``TEST.FINAL_MODEL best_val`` therefore selects ``model-best.pth.tar`` on base-class test accuracy,
      as the published numbers do;
    * ``STAGE1_HOOKS``: callables registered with :func:`register_stage1_hook`, run with the trainer by
      the last engine hook, :class:`Stage1Outputs`, after training (CAPT builds its Confusion Bank
      there); :func:`load_promptkd_run` rebuilds a trained student and the teacher's text features from a
      run directory.

Unused upstream keys kept for command-line compatibility: ``N_CTX_TEXT``, ``PROMPT_DEPTH_TEXT`` (the
student has no text prompts), ``PROJECT_LAYER``, ``CE_WEIGHT``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from clip import VisionPromptLearner, l2_normalize
from clip.checkpoint_keys import load_upstream_state_dict
from dassl.config import add_cfg_node, cfg_hook
from dassl.engine import TRAINER_REGISTRY, HookBase
from dassl.run_dir import choose_checkpoint
from dassl.utils import load_checkpoint
from dassl.utils.distributed import barrier, is_main_process
from datasets.splits import num_base_classes
from trainers.common.base import ClipTrainer
from trainers.common.losses import kd_loss
from trainers.common.teacher import (  # noqa: F401  (re-exported: the teacher's public API lives here too)
    MODALS,
    STUDENT_FOLDER,
    TEACHER_SCRIPT,
    FrozenTeacher,
    build_teacher,
    resolve_teacher_checkpoint,
    teacher_checkpoint_path,
    teacher_design,
)
from trainers.common.vl_prompt import UPSTREAM_PROMPT_DTYPE, IVLPBuildDraws, IVLPDesign, load_prompted_clip
from trainers.ivlp import VL_PROMPT_DEFAULTS

log = logging.getLogger(__name__)

# Called as ``hook(trainer)`` by :class:`Stage1Outputs` after training (after the final test); filled by
# :func:`register_stage1_hook` only.
STAGE1_HOOKS: list[Callable[[PromptKD], None]] = []


def register_stage1_hook(hook: Callable[[PromptKD], None]) -> Callable[[PromptKD], None]:
    """Run ``hook(trainer)`` at the end of every PromptKD run (once per hook, however often it is
    registered); usable as a decorator. CAPT registers its Confusion-Bank builder this way."""
    if hook not in STAGE1_HOOKS:
        STAGE1_HOOKS.append(hook)
    return hook


@cfg_hook
def add_promptkd_cfg(cfg) -> None:
    add_cfg_node(cfg, "TRAINER", {"MODAL": "base2novel"})
    add_cfg_node(
        cfg,
        "TRAINER.PROMPTKD",
        {
            "N_CTX_VISION": 4,
            "N_CTX_TEXT": 4,
            **VL_PROMPT_DEFAULTS,
            "PROJECT_LAYER": 2,
            "CE_WEIGHT": 0.0,
            "KD_WEIGHT": 1.0,
            "TEMPERATURE": 1.0,
            "TEACHER_NAME": "ViT-L/14",
            # Where teacher checkpoints live (relative paths: from the working directory, as upstream).
            "TEACHER_ROOT": "teacher_model",
            # Not upstream: a teacher file or PromptSRC run folder; when set, TEACHER_ROOT is not read.
            "TEACHER_CKPT": "",
            # The teacher's IVLP design (upstream: fixed 9 / 4); small CLIPs need a smaller depth.
            "TEACHER_DEPTH": 9,
            "TEACHER_N_CTX": 4,
        },
    )


def weight_precision(prec: str, device) -> str:
    """Weights are half precision only for ``fp16`` on CUDA; everything else computes in fp32."""
    return "fp16" if prec == "fp16" and torch.device(device).type == "cuda" else "fp32"


# --------------------------------------------------------------------------------------------- student
class FeatureProjector(nn.Module):
    """``VPT_image_trans``: Conv1x1(in->out) - BatchNorm - ReLU - Conv1x1(out->out) on a [B, in] vector.

    Maps student image features into the teacher's embedding space (512 -> 768 for B/16 -> L/14).
    """

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_dim, out_dim, 1),
            nn.BatchNorm2d(out_dim),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_dim, out_dim, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.conv1[0].weight.dtype)[:, :, None, None]
        return self.conv1(x).flatten(1)


class PromptKDStudent(nn.Module):
    """Prompted CLIP image tower + ``VPT_image_trans``; ``forward(images)`` -> normalised [B, D_T] fp32.

    Trainable: ``vision_prompts`` and ``VPT_image_trans``. State-dict keys: ``image_encoder.*``,
    ``vision_prompts.*``, ``VPT_image_trans.conv1.{0,1,3}.*`` (with BatchNorm statistics), ``logit_scale``.
    """

    def __init__(self, clip_model, n_ctx_vision: int, depth_vision: int, teacher_dim: int,
                 initial_prompts: list[torch.Tensor] | None = None):
        super().__init__()
        visual = clip_model.visual
        if depth_vision > visual.transformer.layers:
            raise ValueError(
                f"PROMPT_DEPTH_VISION {depth_vision} exceeds the {visual.transformer.layers} "
                f"vision layers of the student CLIP"
            )
        self.image_encoder = visual
        self.logit_scale = clip_model.logit_scale
        device = clip_model.logit_scale.device
        self.vision_prompts = VisionPromptLearner(
            n_ctx_vision, visual.width, depth_vision, initial=initial_prompts,
            token_dtype=UPSTREAM_PROMPT_DTYPE,
        ).to(device)
        projector = FeatureProjector(visual.output_dim, teacher_dim)
        projector.conv1[0].to(device=device, dtype=visual.conv1.weight.dtype)
        projector.conv1[3].to(device=device, dtype=visual.conv1.weight.dtype)
        self.VPT_image_trans = projector.to(device)

    def trainable_params(self) -> list[nn.Parameter]:
        return [*self.vision_prompts.parameters(), *self.VPT_image_trans.parameters()]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.image_encoder(images, prompts=self.vision_prompts)
        return l2_normalize(self.VPT_image_trans(features).float())


def load_student_backbone(cfg, device, precision: str) -> tuple[object, IVLPBuildDraws]:
    """The student CLIP, built as upstream builds its IVLP-design CLIP from ``TRAINER.PROMPTKD`` (the prompt
    tensors of both towers are drawn inside the build; the student keeps the vision ones)."""
    return load_prompted_clip(cfg, IVLPDesign.from_cfg(cfg.TRAINER.PROMPTKD), device, precision)


def build_student(cfg, device, precision: str, teacher_dim: int, backbone=None) -> PromptKDStudent:
    """The student on ``backbone`` ((CLIP, drawn prompts) from :func:`load_student_backbone`; default: loaded
    here)."""
    node = cfg.TRAINER.PROMPTKD
    clip_model, drawn = backbone if backbone is not None else load_student_backbone(cfg, device, precision)
    return PromptKDStudent(clip_model, int(node.N_CTX_VISION), int(node.PROMPT_DEPTH_VISION), teacher_dim,
                           initial_prompts=drawn.initial_vision)


def base_class_count(cfg, dataset, num_classes: int) -> int:
    """How many leading labels are base classes: all of them in ``cross`` runs; else the dataset's own base
    half when it declares one, else :func:`datasets.splits.num_base_classes`."""
    if cfg.TRAINER.MODAL == "cross":
        return num_classes
    base = getattr(dataset, "base_classnames", None)
    return len(base) if base else num_base_classes(num_classes)


# --------------------------------------------------------------------------------------------- trainer
@TRAINER_REGISTRY.register()
class PromptKD(ClipTrainer):
    """Distil a PromptSRC teacher into a prompted student image encoder (see the module docstring)."""

    model_name = STUDENT_FOLDER
    prec_key = "PROMPTKD"
    data_wiring = "promptkd"
    val_is_test = True  # split "val" is the base-class test set: best_val selects on test images

    def check_cfg(self, cfg):
        super().check_cfg(cfg)
        if cfg.TRAINER.MODAL not in MODALS:
            raise ValueError(f"TRAINER.MODAL must be one of {list(MODALS)}, got {cfg.TRAINER.MODAL!r}")
        if float(cfg.TRAINER.PROMPTKD.TEMPERATURE) <= 0:
            raise ValueError(
                f"TRAINER.PROMPTKD.TEMPERATURE must be positive, got {cfg.TRAINER.PROMPTKD.TEMPERATURE}"
            )

    def build_network(self):
        cfg = self.cfg
        dataset = self.dm.dataset
        self.classnames = list(dataset.classnames)
        self.n_base = base_class_count(cfg, dataset, len(self.classnames))
        # Upstream's order: student CLIP, teacher CLIP, then the student's projector (random streams).
        backbone = load_student_backbone(cfg, self.device, self.weight_precision)
        self.teacher = build_teacher(cfg, self.classnames, self.device, self.weight_precision)
        teacher_dim = self.teacher.text_features.shape[1]
        return build_student(cfg, self.device, self.weight_precision, teacher_dim, backbone)

    def compute_loss(self, image, label):
        node = self.cfg.TRAINER.PROMPTKD
        teacher_logits = self.teacher(image)
        student = self.model(image)
        student_logits = self.model.logit_scale.exp() * student @ self.teacher.text_features.t()
        loss = float(node.KD_WEIGHT) * kd_loss(student_logits, teacher_logits, float(node.TEMPERATURE))
        return {"loss": loss}, {}

    # ------------------------------------------------------------ evaluation
    def eval_text_features(self, split: str) -> torch.Tensor:
        """Teacher text features of the classes of ``split``: base half for val, new half for test."""
        features = self.teacher.text_features
        if self.cfg.TRAINER.MODAL == "cross":
            return features
        return features[: self.n_base] if split == "val" else features[self.n_base :]

    def test(self, split=None):
        split = split or self.cfg.TEST.SPLIT
        if not (split == "val" and self.val_loader is not None):
            split = "test"
        self._eval_split = split
        return super().test(split)

    def model_inference(self, image):
        with self.autocast():
            student = self.model(image)
        text = self.eval_text_features(getattr(self, "_eval_split", "test"))
        return self.model.logit_scale.exp().float() * student @ text.t()

    def build_hooks(self):
        """The engine's hooks, then :class:`Stage1Outputs` (it needs the finished, tested run)."""
        return [*super().build_hooks(), Stage1Outputs()]


class Stage1Outputs(HookBase):
    """After training (the final test and its log lines done), run every callable of ``STAGE1_HOOKS`` with
    the trainer, on rank 0 only (they write files, e.g. CAPT's Confusion Bank); the other ranks wait."""

    def after_train(self):
        if is_main_process():
            for hook in STAGE1_HOOKS:
                hook(self.trainer)
        barrier()


# ------------------------------------------------------------------------------ re-use of a trained run
@dataclass
class PromptKDRun:
    """A trained PromptKD student and the teacher's class text features, ready for inference.

    Attributes:
        student: :class:`PromptKDStudent` in eval mode with every parameter frozen; ``student(images)``
            gives normalised features in the teacher's text space.
        text_features: teacher text features of ``classnames`` [C, D_T], normalised, fp32.
        classnames: all classes, in label order.
        num_base: number of base classes (the first ``num_base`` labels; all classes in ``cross`` runs).
        logit_scale: ``exp`` of the student's logit scale (a 0-d fp32 tensor).
        checkpoint: the student checkpoint file that was loaded; ``epoch`` its stored epoch.
    """

    student: PromptKDStudent
    text_features: torch.Tensor
    classnames: list[str]
    num_base: int
    logit_scale: torch.Tensor
    checkpoint: str
    epoch: int | None

    @property
    def base_text_features(self) -> torch.Tensor:
        return self.text_features[: self.num_base]

    @property
    def new_text_features(self) -> torch.Tensor:
        return self.text_features[self.num_base :]

    @torch.no_grad()
    def logits(self, images: torch.Tensor, classes: str = "all") -> torch.Tensor:
        """Student logits over ``classes`` "all" / "base" / "new"."""
        text = {
            "all": self.text_features,
            "base": self.base_text_features,
            "new": self.new_text_features,
        }.get(classes)
        if text is None:
            raise ValueError(f"classes must be 'all', 'base' or 'new', got {classes!r}")
        return self.logit_scale * self.student(images) @ text.t()


def _all_classnames(cfg) -> list[str]:
    from dassl.data.datasets import build_dataset

    dataset = build_dataset(cfg, wiring="promptkd")
    return list(getattr(dataset, "all_classnames", None) or dataset.classnames)


def load_promptkd_run(
    cfg,
    run_dir: str,
    epoch: int | None = None,
    device="cpu",
    classnames: list[str] | None = None,
    teacher_checkpoint: str | None = None,
    precision: str | None = None,
    teacher: FrozenTeacher | None = None,
) -> PromptKDRun:
    """Rebuild a trained PromptKD student and its teacher's text features from a run directory.

    Args:
        cfg: a config carrying the run's ``MODEL.BACKBONE.NAME``, ``INPUT.SIZE``, ``DATASET.NAME``,
            ``TRAINER.MODAL`` and ``TRAINER.PROMPTKD.*`` keys (e.g. the stage-2 config, which repeats them).
        run_dir: the PromptKD output directory (holding ``VLPromptLearner/``).
        epoch: None -> ``model-best.pth.tar``; N -> ``model.pth.tar-N``; negative -> the last epoch file.
        device: where the modules live.
        classnames: every class in label order; default: built from the dataset of ``cfg`` with the
            PromptKD wiring.
        teacher_checkpoint: explicit teacher file (default: the ``TEACHER_ROOT`` rule of the trainer).
        precision: weight precision ("fp16"/"fp32"); default follows ``TRAINER.PROMPTKD.PREC`` and device.
        teacher: the teacher over ``classnames``, already built by the caller (its text features are used,
            no teacher is loaded here).

    Raises FileNotFoundError naming the missing file, ValueError on key/shape mismatches.
    """
    device = torch.device(device)
    precision = precision or weight_precision(cfg.TRAINER.PROMPTKD.PREC, device)
    names = list(classnames) if classnames is not None else _all_classnames(cfg)
    if teacher is None:
        text = build_teacher(cfg, names, device, precision, checkpoint=teacher_checkpoint).text_features
    else:
        text = teacher.text_features
    text = text.detach().clone()
    student = build_student(cfg, device, precision, text.shape[1])
    path = choose_checkpoint(os.path.join(run_dir, STUDENT_FOLDER), epoch)
    checkpoint = load_checkpoint(path)
    report = load_upstream_state_dict(
        student, checkpoint, required_prefixes=("vision_prompts.", "VPT_image_trans."), source=path
    )
    if report.missing or report.unexpected:
        raise ValueError(
            f"{path} does not match the PromptKD student built from the config: {report.summary()}"
        )
    log.info(f'Loaded PromptKD student from "{path}" (epoch = {checkpoint.get("epoch")})')
    student.requires_grad_(False).eval()
    num_base = base_class_count(cfg, None, len(names))
    return PromptKDRun(
        student=student,
        text_features=text,
        classnames=names,
        num_base=num_base,
        logit_scale=student.logit_scale.exp().detach().float(),
        checkpoint=path,
        epoch=checkpoint.get("epoch"),
    )
