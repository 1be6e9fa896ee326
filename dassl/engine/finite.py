"""Checks that stop a diverged run before it saves or scores NaN.

A loss that turns NaN stops training; weights or outputs that are not finite are never written to a
checkpoint nor counted in an evaluation (an all-NaN model would otherwise score the accuracy of always
predicting class 0). Each error says where it happened and which config key to change.
"""

import torch

__all__ = ["FiniteOutputs", "check_finite_loss", "check_finite_outputs", "check_finite_state",
           "divergence_hint"]


def _precision_keys(cfg):
    keys = []
    for name, node in (cfg.get("TRAINER") or {}).items():
        if isinstance(node, dict) and str(node.get("PREC", "")).lower() in ("fp16", "amp", "bf16"):
            keys.append(f"TRAINER.{name}.PREC {node['PREC']} -> fp32")
    return keys


def divergence_hint(cfg):
    """Which keys usually cure a diverging run: a lower learning rate, full precision."""
    if cfg is None:
        return "try a lower learning rate"
    hints = [f"a lower OPTIM.LR (now {cfg.OPTIM.LR})"] + _precision_keys(cfg)
    return "try " + ", or ".join(hints)


def check_finite_loss(loss, trainer):
    if torch.isfinite(loss).all():
        return
    where = f"epoch {getattr(trainer, 'epoch', 0) + 1}/{getattr(trainer, 'max_epoch', '?')}"
    if getattr(trainer, "num_batches", None) is not None and hasattr(trainer, "batch_idx"):
        where += f", batch {trainer.batch_idx + 1}/{trainer.num_batches}"
    raise FloatingPointError(
        f"Loss is infinite or NaN ({loss.detach().float().flatten()[0].item()}) at {where}: "
        f"training diverged; {divergence_hint(getattr(trainer, 'cfg', None))}"
    )


def check_finite_state(state_dict, name, epoch, cfg):
    """Refuse to save weights with NaN or Inf (named: model, first bad key, epoch)."""
    bad = [k for k, v in state_dict.items()
           if torch.is_tensor(v) and v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise FloatingPointError(
            f"Not saving {name} after epoch {epoch}: {len(bad)} tensor(s) hold NaN or Inf "
            f"(first: {bad[0]}); the run diverged; {divergence_hint(cfg)}"
        )


class FiniteOutputs:
    """Watches the outputs of an evaluation without making the host wait for the device at every batch.

    ``add`` keeps the index of the first non-finite batch as a device tensor; ``check`` reads it once, after
    the loop and before anything is scored, and raises like :func:`check_finite_outputs`.
    """

    NONE = 2**62

    def __init__(self):
        self.first_bad = None

    def add(self, output, batch_idx):
        logits = _float_logits(output)
        if logits is None:
            return
        bad = ~torch.isfinite(logits).all()
        index = torch.where(bad, batch_idx, self.NONE)
        self.first_bad = index if self.first_bad is None else torch.minimum(self.first_bad, index)

    def check(self, split, cfg):
        first = None if self.first_bad is None else int(self.first_bad)
        if first is not None and first != self.NONE:
            _raise_nonfinite_outputs(split, first, cfg)


def _float_logits(output):
    """The logits of a model output (the first element of a tuple), or None when they are not floats."""
    logits = output[0] if isinstance(output, (tuple, list)) else output
    return logits if torch.is_tensor(logits) and logits.is_floating_point() else None


def _raise_nonfinite_outputs(split, batch_idx, cfg):
    raise FloatingPointError(
        f"The model's outputs on the {split} split hold NaN or Inf (batch {batch_idx + 1}); "
        f"no accuracy is reported for them; {divergence_hint(cfg)}"
    )


def check_finite_outputs(output, split, batch_idx, cfg):
    """Refuse to score an evaluation batch whose logits are not finite."""
    logits = _float_logits(output)
    if logits is not None and not torch.isfinite(logits).all():
        _raise_nonfinite_outputs(split, batch_idx, cfg)
