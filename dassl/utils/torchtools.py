"""Checkpoint files and small model utilities.

Layout (kept from Dassl): ``<dir>/model.pth.tar-<N>``, ``<dir>/model-best.pth.tar``
and ``<dir>/checkpoint`` (first line = basename of the last file saved). Every
file is written to a temporary name in the same directory and renamed, so a
run killed while saving never leaves a truncated checkpoint behind.
"""

import logging
import os
import os.path as osp
import warnings
from collections import OrderedDict

import torch
import torch.nn as nn

from dassl.atomic_io import atomic_path, copy_file_atomic
from dassl.run_dir import BEST_FILE, POINTER_FILE, epoch_file, epoch_files_newest_first, epoch_of
from dassl.run_state import note_loaded

from .safe_load import UnsafeFileError, torch_load_checked
from .tools import mkdir_if_missing, write_text_atomic

log = logging.getLogger(__name__)

__all__ = [
    "save_checkpoint",
    "save_torch_atomic",
    "load_checkpoint",
    "resume_from_checkpoint",
    "load_resume_checkpoint",
    "prune_rolling_checkpoints",
    "checkpoint_path_from_pointer",
    "load_state_dict_skipping_class_buffers",
    "open_all_layers",
    "open_specified_layers",
    "count_num_param",
    "load_pretrained_weights",
    "init_network_weights",
    "CLASS_DEPENDENT_KEYS",
]

# Buffers whose shape depends on the number of classes (CoOp-style prompt
# learners store the frozen token embeddings around the context per class).
CLASS_DEPENDENT_KEYS = ("token_prefix", "token_suffix")


def save_torch_atomic(obj, fpath):
    """``torch.save`` through :func:`dassl.atomic_io.atomic_path` (never a truncated file, umask mode)."""
    with atomic_path(fpath) as tmp:
        torch.save(obj, tmp)


def save_checkpoint(state, save_dir, is_best=False, remove_module_from_keys=True, model_name=""):
    """Save ``state`` into ``save_dir`` and point ``save_dir/checkpoint`` at it.

    The file is ``model_name`` if given, else ``model.pth.tar-<state["epoch"]>``.
    With ``is_best`` the file is also copied to ``model-best.pth.tar``.
    """
    mkdir_if_missing(save_dir)
    if remove_module_from_keys:
        state["state_dict"] = OrderedDict(
            (k[len("module.") :] if k.startswith("module.") else k, v) for k, v in state["state_dict"].items()
        )
    if not model_name:
        model_name = epoch_file(state["epoch"])
    fpath = osp.join(save_dir, model_name)
    save_torch_atomic(state, fpath)
    log.info(f"Checkpoint saved to {fpath}")

    write_text_atomic(osp.basename(fpath) + "\n", osp.join(save_dir, POINTER_FILE))

    if is_best:
        best_fpath = osp.join(save_dir, BEST_FILE)
        copy_file_atomic(fpath, best_fpath)
        log.info(f'Best checkpoint saved to "{best_fpath}"')


def load_checkpoint(fpath):
    """Load a checkpoint file (onto the CPU when CUDA is unavailable) without running code it carries.

    Files are read with ``weights_only=True`` (see :mod:`dassl.utils.safe_load`); a file that needs
    full pickle raises :class:`~dassl.utils.safe_load.UnsafeFileError` naming the file and the
    ``ALLOW_UNSAFE_PICKLE`` opt-in.
    """
    if fpath is None:
        raise ValueError("load_checkpoint() needs a file path, got None")
    if not osp.exists(fpath):
        raise FileNotFoundError(f'No checkpoint file at "{fpath}"')
    map_location = None if torch.cuda.is_available() else "cpu"
    try:
        checkpoint = torch_load_checked(fpath, map_location=map_location)
    except UnicodeDecodeError:
        # Files written by Python 2 need latin-1 decoding of their strings.
        checkpoint = torch_load_checked(fpath, map_location=map_location, encoding="latin1")
    except UnsafeFileError:
        raise
    except Exception:
        log.error(f'Unable to load checkpoint from "{fpath}"')
        raise
    note_loaded(fpath)  # finished.json records what a run evaluated
    return checkpoint


def checkpoint_path_from_pointer(fdir):
    """Return the path named by the first line of ``fdir/checkpoint``."""
    pointer = osp.join(fdir, POINTER_FILE)
    with open(pointer) as f:
        name = f.readline().strip()
    if not name:
        raise ValueError(f'"{pointer}" is empty; expected the name of a checkpoint file')
    return osp.join(fdir, name)


def load_state_dict_skipping_class_buffers(model, state_dict, strict=True):
    """Load ``state_dict`` into ``model``, dropping class-count buffers that do not fit.

    Keys containing ``token_prefix``/``token_suffix`` whose shape differs from
    the model's are skipped with a warning (a re-run with another class subset
    rebuilds them from the class names); everything else is loaded strictly.
    Returns the list of skipped keys.
    """
    own = model.state_dict()
    skipped = []
    kept = OrderedDict()
    for key, value in state_dict.items():
        class_dependent = any(tag in key for tag in CLASS_DEPENDENT_KEYS)
        if class_dependent and key in own and tuple(own[key].shape) != tuple(value.shape):
            log.warning(
                f"Warning: skip '{key}' from checkpoint: shape {tuple(value.shape)} does not match "
                f"the model's {tuple(own[key].shape)} (class-dependent buffer)"
            )
            skipped.append(key)
            continue
        kept[key] = value
    if skipped and strict:
        # The skipped buffers keep the model's own values.
        for key in skipped:
            kept[key] = own[key]
    model.load_state_dict(kept, strict=strict)
    return skipped


def _load_newest_readable(fdir):
    """The checkpoint named in ``fdir/checkpoint``, or, when that file is unreadable (truncated by a
    full disk or a copy), the newest readable ``model.pth.tar-<N>`` with a warning. Returns (path, dict)."""
    latest = checkpoint_path_from_pointer(fdir)
    candidates = [latest] + [p for p in epoch_files_newest_first(fdir) if p != latest]
    for fpath in candidates:
        try:
            return fpath, load_checkpoint(fpath)
        except UnsafeFileError:
            raise
        except Exception as err:  # a truncated zip archive or pickle: try the previous checkpoint
            warnings.warn(f'Checkpoint "{fpath}" is unreadable ({type(err).__name__}: {err}); '
                          "falling back to the previous one", stacklevel=2)
    raise RuntimeError(f"No readable checkpoint in {fdir} (tried {len(candidates)} files)")


def load_resume_checkpoint(fdir, model, optimizer=None, scheduler=None):
    """Load the file named in ``fdir/checkpoint`` into the given objects; return the checkpoint dict.

    An unreadable latest file falls back to the previous ``model.pth.tar-<N>`` (with a warning).
    Parameters load strictly, except class-count buffers whose shape changed
    (see :func:`load_state_dict_skipping_class_buffers`).
    """
    fpath, checkpoint = _load_newest_readable(fdir)
    log.info(f'Loading checkpoint from "{fpath}"')
    load_state_dict_skipping_class_buffers(model, checkpoint["state_dict"])
    log.info("Loaded model weights")
    if optimizer is not None and checkpoint.get("optimizer"):
        optimizer.load_state_dict(checkpoint["optimizer"])
        log.info("Loaded optimizer")
    if scheduler is not None and checkpoint.get("scheduler"):
        scheduler.load_state_dict(checkpoint["scheduler"])
        log.info("Loaded scheduler")
    log.info(f"Previous epoch: {checkpoint['epoch']}")
    return checkpoint


def prune_rolling_checkpoints(fdir, epoch, kept_every, keep_previous=True):
    """Delete ``model.pth.tar-<N>`` files kept only for resuming.

    Files of epochs that ``TRAIN.CHECKPOINT_FREQ`` (``kept_every``) asks for, and ``epoch`` itself, stay;
    with ``keep_previous`` the newest one before ``epoch`` stays too, as a fallback if the latest file is
    unreadable.
    """
    previous_kept = not keep_previous
    for fpath in epoch_files_newest_first(fdir):
        n = epoch_of(fpath)
        if n >= epoch or (kept_every > 0 and n % kept_every == 0):
            continue
        if not previous_kept:
            previous_kept = True
            continue
        os.remove(fpath)


def resume_from_checkpoint(fdir, model, optimizer=None, scheduler=None, restore_rng=False):
    """Resume from the file named in ``fdir/checkpoint``; return the stored epoch.

    With ``restore_rng`` the random generator states saved alongside (if any)
    are restored too, which makes a resumed run draw the same numbers as an
    uninterrupted one.
    """
    checkpoint = load_resume_checkpoint(fdir, model, optimizer, scheduler)
    if restore_rng:
        rng_state = (checkpoint.get("trainer_state") or {}).get("rng_state")
        if rng_state is not None:
            from .rng import set_rng_state

            set_rng_state(rng_state)
    return checkpoint["epoch"]


def open_all_layers(model):
    """Put ``model`` in train mode and make every parameter trainable."""
    model.train()
    for p in model.parameters():
        p.requires_grad = True


def open_specified_layers(model, open_layers):
    """Train only the direct children named in ``open_layers``; freeze the rest."""
    if isinstance(model, nn.DataParallel):
        model = model.module
    if isinstance(open_layers, str):
        open_layers = [open_layers]
    for layer in open_layers:
        if not hasattr(model, layer):
            raise ValueError(f"{layer} is not an attribute of {type(model).__name__}")
    for name, module in model.named_children():
        trainable = name in open_layers
        module.train(trainable)
        for p in module.parameters():
            p.requires_grad = trainable


def count_num_param(model=None, params=None):
    """Number of elements in ``model``'s parameters or in ``params``."""
    if model is not None:
        return sum(p.numel() for p in model.parameters())
    if params is None:
        raise ValueError("count_num_param() needs a model or a list of parameters")
    total = 0
    for item in params:
        if isinstance(item, dict):
            total += sum(p.numel() for p in item["params"])
        else:
            total += item.numel()
    return total


def load_pretrained_weights(model, weight_path):
    """Copy the entries of ``weight_path`` whose names and shapes match ``model``."""
    checkpoint = load_checkpoint(weight_path)
    state_dict = checkpoint.get("state_dict", checkpoint)
    own = model.state_dict()
    matched, discarded = OrderedDict(), []
    for key, value in state_dict.items():
        key = key[len("module.") :] if key.startswith("module.") else key
        if key in own and own[key].size() == value.size():
            matched[key] = value
        else:
            discarded.append(key)
    own.update(matched)
    model.load_state_dict(own)
    if not matched:
        warnings.warn(
            f'Cannot load {weight_path} (check the key names manually)',
            stacklevel=2,
        )
        return
    log.info(f'Loaded {len(matched)} matching entries from "{weight_path}"')
    if discarded:
        log.warning(f"Entries without a same-named, same-shaped counterpart (not loaded): {discarded}")


def init_network_weights(model, init_type="normal", gain=0.02):
    """Initialise conv/linear/norm layers of ``model`` in place."""

    def _init(m):
        name = type(m).__name__
        if hasattr(m, "weight") and ("Conv" in name or "Linear" in name):
            if init_type == "normal":
                nn.init.normal_(m.weight, 0.0, gain)
            elif init_type == "xavier":
                nn.init.xavier_normal_(m.weight, gain=gain)
            elif init_type == "kaiming":
                nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            elif init_type == "orthogonal":
                nn.init.orthogonal_(m.weight, gain=gain)
            else:
                raise NotImplementedError(f"initialization method {init_type} is not implemented")
            if getattr(m, "bias", None) is not None:
                nn.init.constant_(m.bias, 0.0)
        elif "BatchNorm" in name or "InstanceNorm" in name:
            if getattr(m, "weight", None) is not None:
                nn.init.constant_(m.weight, 1.0)
            if getattr(m, "bias", None) is not None:
                nn.init.constant_(m.bias, 0.0)

    model.apply(_init)
