"""What stage 2 needs from stage 1: the run directory, its student checkpoint, the bank, the guidance.

Kept apart from the trainer so the rules (which checkpoint, which bank goes with it, where the SEM cache
lives, what a cache key depends on, what a stage-2 checkpoint must match) are in one short file.
"""

from __future__ import annotations

import hashlib
import json
import os

import torch

from dassl.run_dir import BEST_FILE, choose_checkpoint, epoch_of
from dassl.utils import write_json_atomic
from trainers.common.provenance import describe, same_weights

from .bank import load_bank
from .builder import bank_path, build_bank_for_run
from .config import STAGE1_POLICIES
from .sem import load_or_encode_guidance

STUDENT_FOLDER = "VLPromptLearner"
STAGE2_META = "capt_stage2.json"
# Written by every base-class evaluation of stage 2: the frozen backbone's errors (wrong_predictions format).




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


def load_or_build_bank(cfg, stage1_dir: str, run, frozen: dict, device) -> dict:
    """The Confusion Bank of exactly the weights stage 2 freezes (``run.checkpoint``).

    The rule: a bank file records the identity (file, sha256) of the stage-1 weights that built it. Stage 2
    uses it only when that record matches the checkpoint it loaded; otherwise (other weights, no record, no
    file) it rebuilds the bank from the loaded weights and replaces the file, so the bank's features and
    predictions are always those of the frozen backbone. ``frozen``: :func:`checkpoint_identity` of
    ``run.checkpoint``.
    """
    path = bank_path(cfg, stage1_dir)
    if os.path.isfile(path):
        bank = load_bank(path)
        built_from = bank.get("meta", {}).get("weights")
        if same_weights(built_from, frozen):
            print(f"Confusion Bank: loading {path} (built from {describe(built_from)})")
            return bank
        print(f"Confusion Bank: {path} was built from {describe(built_from)}, but stage 2 freezes "
              f"{describe(frozen)}; rebuilding it from the frozen weights")
    else:
        print(f"Confusion Bank: {path} not found; building it from the stage-1 run")
    return build_bank_for_run(cfg, stage1_dir, None, device, run=run, identity=frozen)


def stage2_meta(cfg, stage1_dir: str, run, frozen: dict, base_classnames: list[str]) -> dict:
    """What a stage-2 checkpoint records about its frozen stage 1 (verified when it is loaded again)."""
    return {"stage1_dir": os.path.abspath(stage1_dir), "stage1_checkpoint": run.checkpoint,
            "stage1_epoch": run.epoch, "stage1_weights": frozen,
            "base_classnames": list(base_classnames), "mode": cfg.CAPT.MODE}


def check_stage2_checkpoint(path: str, stored: dict, current: dict) -> None:
    """Refuse stage-2 weights trained with another CAPT.MODE or on another stage-1 checkpoint."""
    if stored.get("mode") != current["mode"]:
        raise ValueError(f"{path} was trained with CAPT.MODE {stored.get('mode')!r}, but this run builds "
                         f"CAPT.MODE {current['mode']!r}; set CAPT.MODE {stored.get('mode')} to evaluate it")
    recorded = stored.get("stage1_weights")
    if recorded is None:
        print(f"Warning: {path} records no stage-1 weights identity (older checkpoint); it cannot be "
              f"checked against {describe(current['stage1_weights'])}")
        return
    if not same_weights(recorded, current["stage1_weights"]):
        raise ValueError(f"{path} was trained on the stage-1 weights {describe(recorded)}, but this run "
                         f"freezes {describe(current['stage1_weights'])}; point SPLE.BACK_CKPT_PATH / "
                         f"SPLE.BACK_CKPT_EPOCH / CAPT.STAGE1_CHECKPOINT / TEST.PROTOCOL at the stage-1 "
                         f"weights it was trained on")


def file_identity(path: str) -> str:
    """Name, size and a hash of the first MiB: identifies a weights file without reading all of it."""
    h = hashlib.sha1()
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
    return f"{os.path.basename(path)}:{os.path.getsize(path)}:{h.hexdigest()[:16]}"


class TeacherTextEncoder:
    """The teacher CLIP's frozen text tower, no learned prompts (SEM texts). Loaded on first use."""

    def __init__(self, cfg, device):
        self.cfg, self.device, self._model = cfg, device, None
        from clip import resolve_weights
        from clip.config import weights_dir

        name = cfg.TRAINER.PROMPTKD.TEACHER_NAME
        self.identity = f"{name}|{file_identity(resolve_weights(name, weights_dir(cfg)))}"

    @torch.no_grad()
    def __call__(self, texts: list[str]) -> torch.Tensor:
        from clip.tokenizer import tokenize
        from trainers.common.backbone import load_clip

        if self._model is None:
            self._model = load_clip(self.cfg, name=self.cfg.TRAINER.PROMPTKD.TEACHER_NAME,
                                    precision="fp32").to(self.device).eval()
        tokens = tokenize(texts, context_length=self._model.context_length, truncate=True)
        return self._model.encode_text(tokens.to(self.device)).float()


def guidance_for(cfg, stage1_dir: str, classnames, class_feats, encoder: TeacherTextEncoder) -> torch.Tensor:
    sem = cfg.CAPT.SEM
    cache = sem.CACHE_DIR or os.path.join(stage1_dir, "sem_cache")
    return load_or_encode_guidance(
        list(classnames), cache, encoder.identity, encoder, class_feats, pair_file=sem.PAIR_FILE,
        desc_file=sem.DESC_FILE, templates={"common": sem.COMMON_TEMPLATE, "diff": sem.DIFF_TEMPLATE},
        k=int(sem.KMEANS_K), keep=int(sem.KEEP), iters=int(sem.KMEANS_ITERS))


def write_stage2_meta(output_dir: str, meta: dict) -> None:
    write_json_atomic(meta, os.path.join(output_dir, STAGE2_META))


def read_stage2_meta(model_dir: str) -> dict:
    path = os.path.join(model_dir, STAGE2_META)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: --model-dir must be a CAPT stage-2 output directory "
                                f"(or pass SPLE.BACK_CKPT_PATH <stage-1 dir>)")
    with open(path) as f:
        return json.load(f)
