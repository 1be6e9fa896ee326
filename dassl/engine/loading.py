"""The ``load_model`` convention of CLIP trainers, written once.

CLIP trainers evaluate on class sets other than the one they trained on
(base -> new), so buffers that hold per-class token embeddings
(``token_prefix``/``token_suffix``) are dropped from the checkpoint and the
model keeps the ones it built from the current class names. Use either the
mixin (first in the bases) or call the function from ``load_model``::

    class CoOp(ClipLoadModelMixin, TrainerX): ...
"""

import os
import os.path as osp
import re

from dassl.utils import CLASS_DEPENDENT_KEYS, load_checkpoint

from .selection import load_epoch

__all__ = ["ClipLoadModelMixin", "find_last_epoch", "load_model_dropping_class_buffers", "resolve_model_file"]

_EPOCH_FILE = re.compile(r"^model\.pth\.tar-(\d+)$")


def find_last_epoch(model_dir):
    """Largest ``N`` among files named ``model.pth.tar-<N>`` in ``model_dir`` (None if there is none)."""
    if not osp.isdir(model_dir):
        return None
    epochs = [int(m.group(1)) for m in map(_EPOCH_FILE.match, os.listdir(model_dir)) if m]
    return max(epochs) if epochs else None


def resolve_model_file(model_dir, epoch=None):
    """Path of the weights to load from ``model_dir``.

    ``epoch`` None -> ``model-best.pth.tar``; a negative epoch -> the last
    ``model.pth.tar-<N>``; otherwise ``model.pth.tar-<epoch>``.
    """
    if epoch is None:
        fname = "model-best.pth.tar"
    elif int(epoch) < 0:
        last = find_last_epoch(model_dir)
        if last is None:
            raise FileNotFoundError(f'No "model.pth.tar-<N>" file found in "{model_dir}"')
        fname = f"model.pth.tar-{last}"
    else:
        fname = f"model.pth.tar-{int(epoch)}"
    fpath = osp.join(model_dir, fname)
    if not osp.exists(fpath):
        raise FileNotFoundError(f'Model not found at "{fpath}"')
    return fpath


def load_model_dropping_class_buffers(trainer, directory, epoch=None, names=None):
    """Load ``directory/<name>/<file>`` into each registered model, without class-dependent buffers.

    Keys containing ``token_prefix``/``token_suffix`` are deleted before a
    non-strict load; any other missing or unexpected key is reported.
    An empty ``directory`` skips loading (zero-shot evaluation).
    """
    if not directory:
        print("Note that load_model() is skipped as no pretrained model is given")
        return
    for name in trainer.get_model_names(names):
        fpath = resolve_model_file(osp.join(directory, name), epoch)
        checkpoint = load_checkpoint(fpath)
        state_dict = dict(checkpoint["state_dict"])
        dropped = [k for k in state_dict if any(tag in k for tag in CLASS_DEPENDENT_KEYS)]
        for key in dropped:
            print(f"Delete key {key} from checkpoint (rebuilt from the current class names)")
            del state_dict[key]
        ckpt_epoch = checkpoint.get("epoch")
        print(f'Loading weights to {name} from "{fpath}" (epoch = {ckpt_epoch})')
        result = trainer._models[name].load_state_dict(state_dict, strict=False)
        missing = [k for k in result.missing_keys if not any(tag in k for tag in CLASS_DEPENDENT_KEYS)]
        if missing:
            print(f"Keys of {name} not found in the checkpoint (kept as built): {missing}")
        if result.unexpected_keys:
            print(f"Checkpoint keys not used by {name}: {result.unexpected_keys}")
        trainer.weights_epoch = ckpt_epoch
        trainer.weights_file = fpath


class ClipLoadModelMixin:
    """Gives a trainer the CLIP ``load_model``: see :func:`load_model_dropping_class_buffers`."""

    def load_model(self, directory, epoch=None):
        load_model_dropping_class_buffers(self, directory, load_epoch(self.cfg, epoch))
