"""Everything stage 2 takes from stage 1, loaded in one call: :func:`load_stage1` -> :class:`Stage1`.

Kept apart from the trainer so the rules (which checkpoint, which settings, where the SEM cache lives, what
a cache key depends on) are in one short file. The stage-1 folder is read here and nowhere else; the
Confusion Bank that goes with the frozen weights comes from :func:`trainers.capt.builder.ensure_bank`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch

from dassl.run_dir import BEST_FILE, choose_checkpoint, epoch_of
from trainers.common.provenance import checkpoint_identity

from .config import STAGE1_POLICIES
from .sem import load_or_encode_guidance
from .stage1_config import stage1_cfg
from .teacher import StageTeacher

STUDENT_FOLDER = "VLPromptLearner"


def stage1_epoch(stage1_dir: str, epoch: int, policy: str = "released", clean: bool = False) -> int | None:
    """Which stage-1 student file stage 2 freezes, as the ``epoch`` argument of the loader (None = best).

    ``policy`` (``CAPT.STAGE1_CHECKPOINT``):

    * ``released`` (default, as the authors' code): ``model-best.pth.tar`` whenever it exists, else
      ``model.pth.tar-N`` with N = ``SPLE.BACK_CKPT_EPOCH`` (-1: the last epoch file). With the published
      stage-1 config (best epoch kept) CAPT's frozen backbone is PromptKD's deployed model;
    * ``epoch``: exactly ``SPLE.BACK_CKPT_EPOCH``: N > 0 -> ``model.pth.tar-N``, 0 -> the best file,
      -1 -> the last epoch file.

    ``clean`` (``TEST.PROTOCOL clean``): the best file was selected on test images and is never used.
    A missing epoch file falls back (with a note) to the last epoch file: toy or shortened stage-1 schedules
    end before the published 20 epochs.
    """
    if policy not in STAGE1_POLICIES:
        raise ValueError(f"CAPT.STAGE1_CHECKPOINT must be one of {list(STAGE1_POLICIES)}, got {policy!r}")
    folder = os.path.join(stage1_dir, STUDENT_FOLDER)
    epoch = int(epoch)
    if policy == "epoch" and epoch == 0:
        if clean:
            raise ValueError(f"SPLE.BACK_CKPT_EPOCH 0 asks for {folder}/{BEST_FILE}, which TEST.PROTOCOL "
                             f"clean never uses (it was selected on test images); give an epoch")
        choose_checkpoint(folder, None)  # FileNotFoundError naming the best file when it is absent
        return None
    if policy == "released" and not clean and os.path.isfile(os.path.join(folder, BEST_FILE)):
        return None
    try:
        return epoch_of(choose_checkpoint(folder, epoch if epoch > 0 else -1, fallback_to_last=True))
    except FileNotFoundError:
        raise FileNotFoundError(f"no stage-1 student checkpoint in {folder} (SPLE.BACK_CKPT_PATH, "
                                f"SPLE.BACK_CKPT_EPOCH {epoch}, CAPT.STAGE1_CHECKPOINT {policy})") from None


def resolve_stage1(cfg, stage1_dir: str) -> int | None:
    """:func:`stage1_epoch` with the keys of ``cfg``."""
    from dassl.engine.selection import is_clean

    return stage1_epoch(stage1_dir, cfg.SPLE.BACK_CKPT_EPOCH, cfg.CAPT.STAGE1_CHECKPOINT, is_clean(cfg))


def check_stage1_dir(path: str) -> str:
    if not path or not os.path.isdir(os.path.join(path, STUDENT_FOLDER)):
        raise FileNotFoundError(
            f"SPLE.BACK_CKPT_PATH={path!r} is not a finished PromptKD run (expected the folder "
            f"{os.path.join(path or '<stage-1 dir>', STUDENT_FOLDER)}). Run stage 1 first "
            f"(scripts/capt/stage1.sh) and pass its output directory.")
    return path


@dataclass
class Stage1:
    """A frozen stage-1 run as stage 2 uses it.

    Attributes:
        directory: the PromptKD run folder (``SPLE.BACK_CKPT_PATH``).
        cfg: stage 2's config with the stage-1 settings of that run (:func:`stage1_cfg`).
        run: the frozen student, the teacher's class text features, ``num_base``, the loaded file.
        identity: :func:`checkpoint_identity` of the loaded student file (bank and checkpoints check it).
        guidance: SEM tokens per class set ("base", and "new" when new classes use CAPT).
        teacher: a frozen teacher over the base classes when asked for (released mode, KD), else None.
    """

    directory: str
    cfg: object
    run: object
    identity: dict
    guidance: dict = field(default_factory=dict)
    teacher: object = None

    @property
    def base_classnames(self) -> list[str]:
        return list(self.run.classnames[: self.run.num_base])

    def meta(self, mode: str) -> dict:
        """What a stage-2 checkpoint records about this stage 1 (verified when it is loaded again)."""
        return {"stage1_dir": os.path.abspath(self.directory), "stage1_checkpoint": self.run.checkpoint,
                "stage1_epoch": self.run.epoch, "stage1_weights": self.identity,
                "base_classnames": self.base_classnames, "mode": mode}


def load_stage1(cfg, stage1_dir: str, classnames: list[str], device, precision: str, *,
                guidance: bool = True, base_teacher: bool = False) -> Stage1:
    """Read the stage-1 run once: its settings, the student file the policy picks, the teacher (its CLIP
    loaded once), and, with ``guidance``, the SEM tokens of the class sets stage 2 refines."""
    from trainers.promptkd import load_promptkd_run

    check_stage1_dir(stage1_dir)
    cfg = stage1_cfg(cfg, stage1_dir)
    teacher = StageTeacher(cfg, device)
    epoch = resolve_stage1(cfg, stage1_dir)
    run = load_promptkd_run(cfg, stage1_dir, epoch=epoch, device=device, classnames=classnames,
                            precision=precision, teacher=teacher.frozen(classnames, precision))
    stage1 = Stage1(stage1_dir, cfg, run, checkpoint_identity(run.checkpoint, run.epoch))
    if guidance:
        stage1.guidance["base"] = guidance_for(cfg, stage1_dir, stage1.base_classnames,
                                               run.base_text_features, teacher)
        if float(cfg.SPLE.STACK.WEIGHT_FOR_NEW) > 0:
            stage1.guidance["new"] = guidance_for(cfg, stage1_dir, classnames[run.num_base:],
                                                  run.new_text_features, teacher)
    if base_teacher:
        stage1.teacher = teacher.frozen(stage1.base_classnames, precision)
    return stage1


def guidance_for(cfg, stage1_dir: str, classnames, class_feats, encoder: StageTeacher) -> torch.Tensor:
    sem = cfg.CAPT.SEM
    cache = sem.CACHE_DIR or os.path.join(stage1_dir, "sem_cache")
    return load_or_encode_guidance(
        list(classnames), cache, encoder.identity, encoder, class_feats, pair_file=sem.PAIR_FILE,
        desc_file=sem.DESC_FILE, templates={"common": sem.COMMON_TEMPLATE, "diff": sem.DIFF_TEMPLATE},
        k=int(sem.KMEANS_K), keep=int(sem.KEEP), iters=int(sem.KMEANS_ITERS))
