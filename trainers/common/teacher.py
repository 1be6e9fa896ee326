"""The PromptKD teacher: a frozen PromptSRC-trained CLIP whose class text features are encoded once.

Shared by PromptKD (stage 1) and CAPT (stage 2, and its released-mode replica). The checkpoint is found
under ``TRAINER.PROMPTKD.TEACHER_ROOT`` as upstream (:func:`teacher_checkpoint_path`), or given directly by
``TEACHER_CKPT`` (:func:`resolve_teacher_checkpoint`).
"""

from __future__ import annotations

import logging
import os

import torch
from torch import nn

from clip import l2_normalize
from clip.checkpoint_keys import load_upstream_state_dict
from dassl.run_dir import BEST_FILE, EPOCH_FILE_PATTERN, choose_checkpoint, epoch_file
from dassl.utils import load_checkpoint
from trainers.common.vl_prompt import IVLPDesign, VLPromptModel, check_input_size, load_prompted_clip

log = logging.getLogger(__name__)

MODALS = ("base2novel", "cross")
STUDENT_FOLDER = "VLPromptLearner"
TEACHER_SCRIPT = "scripts/promptkd/train_teacher.sh"
# The released cross-dataset teacher is the last epoch of a 20-epoch ImageNet run.
CROSS_TEACHER_EPOCH = 20
# Folder names of PromptKD's released teachers that differ from our DATASET.NAME, accepted under TEACHER_ROOT
# when the DATASET.NAME folder holds no checkpoint.
RELEASE_FOLDER_ALIASES = {
    "FGVCAircraft": ("FGVCaircraft",),
    "StanfordCars": ("StandfordCars",),
}


def teacher_design(node) -> IVLPDesign:
    """The teacher's prompt design from ``TRAINER.PROMPTKD`` (text context initialised from ``CTX_INIT``)."""
    depth, n_ctx = int(node.TEACHER_DEPTH), int(node.TEACHER_N_CTX)
    return IVLPDesign(
        n_ctx_vision=n_ctx,
        n_ctx_text=n_ctx,
        depth_vision=depth,
        depth_text=depth,
        ctx_init=str(node.CTX_INIT),
    )


def _file_in_folder(folder: str, epoch: int | None) -> str | None:
    """The teacher file of ``folder`` (``epoch`` None: the best file, N: epoch N), else its highest
    ``model.pth.tar-<N>`` (a PromptSRC run ends with its last epoch file and writes no best file; a note
    says so), else None."""
    try:
        return choose_checkpoint(folder, epoch, fallback_to_last=True)
    except FileNotFoundError:
        return None


def teacher_checkpoint_path(root: str, dataset_name: str, modal: str) -> str:
    """Path of the teacher checkpoint for a dataset and ``TRAINER.MODAL``.

    base2novel: ``<root>/<DATASET.NAME>/VLPromptLearner/model-best.pth.tar``; cross:
    ``<root>/ImageNet-xd/VLPromptLearner_large/model.pth.tar-20``. When that file is absent, the highest
    ``model.pth.tar-<N>`` of the same folder is used (a PromptSRC run ends with its last epoch file and
    writes no best file) and a note says so. Without either, the folder names of PromptKD's release
    (:data:`RELEASE_FOLDER_ALIASES`, e.g. ``FGVCaircraft`` for ``FGVCAircraft``) are tried the same way, and
    a note names the alias used. None present: FileNotFoundError explaining how to train one.
    """
    if modal not in MODALS:
        raise ValueError(f"TRAINER.MODAL must be one of {list(MODALS)}, got {modal!r}")
    if modal == "base2novel":
        folder, epoch = os.path.join(root, dataset_name, STUDENT_FOLDER), None
        aliases = RELEASE_FOLDER_ALIASES.get(dataset_name, ())
    else:
        folder, epoch = os.path.join(root, "ImageNet-xd", "VLPromptLearner_large"), CROSS_TEACHER_EPOCH
        aliases = ()
    expected = os.path.join(folder, BEST_FILE if epoch is None else epoch_file(epoch))
    found = _file_in_folder(folder, epoch)
    for alias in aliases:
        if found is not None:
            break
        found = _file_in_folder(os.path.join(root, alias, STUDENT_FOLDER), epoch)
        if found is not None:
            log.warning(f"Note: no teacher checkpoint under {os.path.join(root, dataset_name)}; "
                        f"using {found} (alias {alias!r}: PromptKD's release spells the {dataset_name} "
                        "folder that way)")
    if found is not None:
        return found
    also = "".join(f" (or the release's spelling {os.path.join(root, a, STUDENT_FOLDER)})" for a in aliases)
    raise FileNotFoundError(
        f"PromptKD teacher checkpoint not found: expected {expected}{also} "
        f"(TRAINER.PROMPTKD.TEACHER_ROOT={root!r}, relative to the working directory {os.getcwd()}).\n"
        f"Download the published teacher, or train one with our PromptSRC trainer on the base classes "
        f"(ViT-L/14 config configs/trainers/PromptSRC/vit_l14_c2_ep20_batch8_4+4ctx.yaml, 16 shots, "
        f"DATASET.SUBSAMPLE_CLASSES base): `bash {TEACHER_SCRIPT} <dataset> <seed>` trains it and places "
        f"the result at {os.path.join(root, '<DATASET.NAME>', STUDENT_FOLDER, BEST_FILE)}."
    )


def resolve_teacher_checkpoint(node, dataset_name: str, modal: str) -> str:
    """The teacher file: ``TEACHER_CKPT`` when set (a file, or a run folder holding ``VLPromptLearner/``,
    whose best file, else last epoch, is used), else :func:`teacher_checkpoint_path` (``TEACHER_ROOT``)."""
    given = str(node.get("TEACHER_CKPT", "") or "")
    if not given:
        return teacher_checkpoint_path(node.TEACHER_ROOT, dataset_name, modal)
    if os.path.isfile(given):
        return given
    found = _file_in_folder(os.path.join(given, STUDENT_FOLDER), None)
    if found is None:
        raise FileNotFoundError(
            f"TRAINER.PROMPTKD.TEACHER_CKPT={given!r}: expected a checkpoint file or a PromptSRC run folder "
            f"holding {STUDENT_FOLDER}/{BEST_FILE} or {STUDENT_FOLDER}/{EPOCH_FILE_PATTERN}"
        )
    return found


class FrozenTeacher(nn.Module):
    """A trained IVLP-design CLIP that stays in eval mode and whose class text features are fixed.

    ``text_features`` [C, D_T] (normalised, fp32) is encoded once, at construction, for every class.
    """

    def __init__(self, model: VLPromptModel):
        super().__init__()
        self.model = model.requires_grad_(False).eval()
        with torch.no_grad():
            text = l2_normalize(model.encode_text().float())
        self.register_buffer("text_features", text, persistent=False)
        self.eval()

    def train(self, mode: bool = True):
        return super().train(False)

    @property
    def logit_scale(self) -> torch.Tensor:
        return self.model.logit_scale.exp().float()

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Teacher logits over all classes, [B, C]."""
        image = l2_normalize(self.model.encode_image(images).float())
        return self.logit_scale * image @ self.text_features.t()


def build_teacher(cfg, classnames: list[str], device, precision: str, checkpoint: str | None = None,
                  clip_model=None):
    """Load the teacher CLIP (``TEACHER_NAME``), put the checkpoint's prompts in it and freeze it.

    Every checkpoint key is accounted for by ``clip.checkpoint_keys`` (class-dependent buffers dropped,
    upstream's frozen zero-shot tower ignored, prompts and ``ctx`` verified as loaded). ``clip_model``: an
    already loaded teacher CLIP at ``precision`` to build on (it becomes the teacher's towers) instead of
    loading one.
    """
    node = cfg.TRAINER.PROMPTKD
    path = checkpoint or resolve_teacher_checkpoint(node, cfg.DATASET.NAME, cfg.TRAINER.MODAL)
    log.info(f"Teacher: {node.TEACHER_NAME} with prompts from {path}")
    design = teacher_design(node)
    if clip_model is None:  # built as upstream builds it, its prompts drawn inside the build
        clip_model, drawn = load_prompted_clip(cfg, design, device, precision, name=node.TEACHER_NAME)
    else:
        clip_model, drawn = clip_model.to(device), None
        check_input_size(cfg, clip_model, name=node.TEACHER_NAME)
    model = VLPromptModel(clip_model, classnames, design, drawn)
    report = load_upstream_state_dict(model, load_checkpoint(path), source=path)
    log.info(f"Loaded teacher from {path}: {report.summary()}")
    return FrozenTeacher(model).to(device)
