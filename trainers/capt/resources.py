"""What stage 2 needs from stage 1: the run directory, its student checkpoint, the bank, the guidance.

Kept apart from the trainer so the rules (which checkpoint, where the bank and the SEM cache live, what
a cache key depends on) are in one short file.
"""

from __future__ import annotations

import hashlib
import json
import os

import torch

from dassl.utils import write_json_atomic

from .bank import load_bank
from .builder import bank_path, build_bank_for_run
from .sem import load_or_encode_guidance

STUDENT_FOLDER = "VLPromptLearner"
STAGE2_META = "capt_stage2.json"


def stage1_epoch(stage1_dir: str, epoch: int) -> int | None:
    """``SPLE.BACK_CKPT_EPOCH`` -> the ``epoch`` argument of the loader (None = best, -1 = last).

    N > 0 asks for ``model.pth.tar-N``, 0 for ``model-best.pth.tar``, -1 for the last epoch file. A missing
    file falls back (with a note) to the last epoch file, then to the best file: toy or shortened stage-1
    schedules end before the published 20 epochs.
    """
    from dassl.engine.loading import find_last_epoch

    folder = os.path.join(stage1_dir, STUDENT_FOLDER)
    epoch = int(epoch)
    wanted = "model-best.pth.tar" if epoch == 0 else f"model.pth.tar-{epoch}" if epoch > 0 else None
    if wanted and os.path.isfile(os.path.join(folder, wanted)):
        return None if epoch == 0 else epoch
    last = find_last_epoch(folder)
    if last is not None:
        if wanted:
            print(f"Note: {folder}/{wanted} not found (SPLE.BACK_CKPT_EPOCH {epoch}); "
                  f"using model.pth.tar-{last}")
        return last
    if os.path.isfile(os.path.join(folder, "model-best.pth.tar")):
        print(f"Note: no epoch files in {folder}; using model-best.pth.tar")
        return None
    raise FileNotFoundError(f"no stage-1 student checkpoint in {folder} (SPLE.BACK_CKPT_PATH)")


def check_stage1_dir(path: str) -> str:
    if not path or not os.path.isdir(os.path.join(path, STUDENT_FOLDER)):
        raise FileNotFoundError(
            f"SPLE.BACK_CKPT_PATH={path!r} is not a finished PromptKD run (expected the folder "
            f"{os.path.join(path or '<stage-1 dir>', STUDENT_FOLDER)}). Run stage 1 first "
            f"(scripts/capt/stage1.sh) and pass its output directory.")
    return path


def load_or_build_bank(cfg, stage1_dir: str, epoch, device, run) -> dict:
    path = bank_path(cfg, stage1_dir)
    if os.path.isfile(path):
        print(f"Confusion Bank: loading {path}")
        return load_bank(path)
    print(f"Confusion Bank: {path} not found; building it from the stage-1 run")
    return build_bank_for_run(cfg, stage1_dir, epoch, device, run=run)


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
