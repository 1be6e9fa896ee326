"""The ``load_model`` convention of CLIP trainers, written once.

CLIP trainers evaluate on class sets other than the one they trained on
(base -> new), so buffers that hold per-class token embeddings
(``token_prefix``/``token_suffix``) are dropped from the checkpoint and the
model keeps the ones it built from the current class names. Use either the
mixin (first in the bases) or call the function from ``load_model``::

    class CoOp(ClipLoadModelMixin, TrainerX): ...
"""

import logging
import os.path as osp

from dassl.run_dir import choose_checkpoint
from dassl.utils import CLASS_DEPENDENT_KEYS, load_checkpoint

from .selection import is_clean

log = logging.getLogger(__name__)

__all__ = ["ClipLoadModelMixin", "load_model_dropping_class_buffers"]


def load_model_dropping_class_buffers(trainer, directory, epoch=None, names=None, clean=False):
    """Load ``directory/<name>/<file>`` into each registered model, without class-dependent buffers.

    The file is :func:`~dassl.run_dir.choose_checkpoint` of ``epoch`` (``clean``: the clean protocol).
    Keys containing ``token_prefix``/``token_suffix`` are deleted before a
    non-strict load; any other missing or unexpected key is reported.
    An empty ``directory`` skips loading (zero-shot evaluation).
    """
    if not directory:
        log.info("Note that load_model() is skipped as no pretrained model is given")
        return
    for name in trainer.get_model_names(names):
        fpath = choose_checkpoint(osp.join(directory, name), epoch, clean=clean)
        checkpoint = load_checkpoint(fpath)
        state_dict = dict(checkpoint["state_dict"])
        dropped = [k for k in state_dict if any(tag in k for tag in CLASS_DEPENDENT_KEYS)]
        for key in dropped:
            log.info(f"Delete key {key} from checkpoint (rebuilt from the current class names)")
            del state_dict[key]
        ckpt_epoch = checkpoint.get("epoch")
        log.info(f'Loading weights to {name} from "{fpath}" (epoch = {ckpt_epoch})')
        result = trainer._models[name].load_state_dict(state_dict, strict=False)
        missing = [k for k in result.missing_keys if not any(tag in k for tag in CLASS_DEPENDENT_KEYS)]
        if missing:
            log.info(f"Keys of {name} not found in the checkpoint (kept as built): {missing}")
        if result.unexpected_keys:
            log.info(f"Checkpoint keys not used by {name}: {result.unexpected_keys}")
        trainer.weights_epoch = ckpt_epoch
        trainer.weights_file = fpath


class ClipLoadModelMixin:
    """Gives a trainer the CLIP ``load_model``: see :func:`load_model_dropping_class_buffers`."""

    def load_model(self, directory, epoch=None):
        load_model_dropping_class_buffers(self, directory, epoch, clean=is_clean(self.cfg))
