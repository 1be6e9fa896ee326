"""The teacher CLIP of stage 2, read from disk once and shared by everything that needs it.

Stage 2 needs the teacher three ways: its class text features (the space of the frozen student and of
MGDE), its plain text tower without learned prompts (SEM's pair texts, always fp32), and, for the
released-mode replica or the optional KD term, a :class:`~trainers.common.teacher.FrozenTeacher` over the
base classes. :class:`StageTeacher` loads the CLIP weights once in fp32; each prompted teacher is built
on its own copy at the run's weight precision (the same values a direct load at that precision gives), so
the prompt checkpoint never touches the tower that encodes SEM's texts.
"""

from __future__ import annotations

import copy
import hashlib
import os

import torch

from clip.model import convert_weights, precision_dtype


def file_identity(path: str) -> str:
    """Name, size and a hash of the first MiB: identifies a weights file without reading all of it."""
    h = hashlib.sha1()
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
    return f"{os.path.basename(path)}:{os.path.getsize(path)}:{h.hexdigest()[:16]}"


class StageTeacher:
    """The teacher CLIP (``TRAINER.PROMPTKD.TEACHER_NAME``), loaded on first use and at most once.

    ``identity`` names the weights file (the SEM cache key depends on it); calling the object encodes
    texts with the prompt-free fp32 text tower; :meth:`frozen` builds a prompted teacher.
    """

    def __init__(self, cfg, device):
        from clip import resolve_weights
        from clip.config import weights_dir

        self.cfg, self.device, self._clip = cfg, device, None
        self.name = cfg.TRAINER.PROMPTKD.TEACHER_NAME
        self.identity = f"{self.name}|{file_identity(resolve_weights(self.name, weights_dir(cfg)))}"

    def clip(self):
        """The fp32 teacher CLIP on ``device`` (loaded now when it was not yet)."""
        if self._clip is None:
            from trainers.common.backbone import load_clip

            self._clip = load_clip(self.cfg, name=self.name, precision="fp32").to(self.device).eval()
        return self._clip

    @torch.no_grad()
    def __call__(self, texts: list[str]) -> torch.Tensor:
        from clip.class_text import encode_texts

        return encode_texts(self.clip(), texts, self.device, truncate=True)

    def frozen(self, classnames: list[str], precision: str):
        """A :class:`FrozenTeacher` over ``classnames`` with the checkpoint's prompts, on a copy of the CLIP
        in ``precision``."""
        from trainers.common.teacher import build_teacher

        tower = copy.deepcopy(self.clip())
        dtype = precision_dtype("fp32" if precision in (None, "amp") else precision)
        if dtype != torch.float32:
            convert_weights(tower, dtype)
        return build_teacher(self.cfg, list(classnames), self.device, precision, clip_model=tower)
