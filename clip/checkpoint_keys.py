"""Explicit key mapping between IVLP-family checkpoints (IVLP, PromptSRC, PromptKD teacher and student)
and this package's module layout, and a loader that accounts for every key.

Upstream stores prompts inside CLIP (``image_encoder.VPT``, ``...resblocks.<i>.VPT_shallow``); here they
live in prompt modules next to an unmodified CLIP:

    image_encoder.VPT                                  -> vision_prompts.shallow
    image_encoder.transformer.resblocks.<i>.VPT_shallow -> vision_prompts.deep.<i-1>
    text_encoder.transformer.resblocks.<i>.VPT_shallow  -> text_prompts.deep.<i-1>
    prompt_learner.token_prefix*/token_suffix*          -> dropped (depend on the class list)
    prompt_learner.ZS_image_encoder.*                   -> ignored (a frozen zero-shot copy of CLIP)

All other keys (``image_encoder.*``, ``text_encoder.*``, ``prompt_learner.ctx``, ``logit_scale``,
``VPT_image_trans.*``) keep their names. A leading ``module.`` (DataParallel) is stripped.
"""

import re
from dataclasses import dataclass, field

import torch
from torch import nn

_DEEP = re.compile(r"^(image_encoder|text_encoder)\.transformer\.resblocks\.(\d+)\.VPT_shallow$")
_OURS_DEEP = re.compile(r"^(vision_prompts|text_prompts)\.deep\.(\d+)$")
_DROPPED = re.compile(r"^prompt_learner\.token_(prefix|suffix)\d*$")
_IGNORED_PREFIXES = ("prompt_learner.ZS_image_encoder.",)
_TOWER_TO_OURS = {"image_encoder": "vision_prompts", "text_encoder": "text_prompts"}
_OURS_TO_TOWER = {v: k for k, v in _TOWER_TO_OURS.items()}
DEFAULT_REQUIRED = ("prompt_learner.ctx", "vision_prompts.", "text_prompts.")


def strip_module_prefix(key: str) -> str:
    while key.startswith("module."):
        key = key[len("module."):]
    return key


def map_upstream_key(key: str) -> tuple[str, str]:
    """(our key, action) for an upstream key; action is "load", "drop" or "ignore"."""
    key = strip_module_prefix(key)
    if _DROPPED.match(key):
        return key, "drop"
    if key.startswith(_IGNORED_PREFIXES):
        return key, "ignore"
    if key == "image_encoder.VPT":
        return "vision_prompts.shallow", "load"
    match = _DEEP.match(key)
    if match:
        block = int(match.group(2))
        if block < 1:
            raise ValueError(f"{key}: block 0 has no deep prompt (its prompts are the shallow tokens)")
        return f"{_TOWER_TO_OURS[match.group(1)]}.deep.{block - 1}", "load"
    return key, "load"


def to_upstream_key(key: str) -> str:
    """Inverse of ``map_upstream_key`` for loaded keys (for writing upstream-readable checkpoints)."""
    if key == "vision_prompts.shallow":
        return "image_encoder.VPT"
    match = _OURS_DEEP.match(key)
    if match:
        return f"{_OURS_TO_TOWER[match.group(1)]}.transformer.resblocks.{int(match.group(2)) + 1}.VPT_shallow"
    return key


def to_upstream_state_dict(state_dict: dict) -> dict:
    return {to_upstream_key(k): v for k, v in state_dict.items()}


@dataclass
class LoadReport:
    """What happened to every key: loaded / dropped / ignored (checkpoint side), missing (module keys
    the checkpoint did not provide) and unexpected (checkpoint keys the module does not have)."""

    loaded: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    def summary(self) -> str:
        def short(keys):
            return ", ".join(keys[:8]) + (f", ... ({len(keys)} in all)" if len(keys) > 8 else "")

        lines = [f"loaded {len(self.loaded)} keys"]
        for name in ("dropped", "ignored", "missing", "unexpected"):
            keys = getattr(self, name)
            if keys:
                lines.append(f"{name} {len(keys)}: {short(keys)}")
        return "\n".join(lines)


def _unwrap(state_dict: dict) -> dict:
    if isinstance(state_dict.get("state_dict"), dict):
        return state_dict["state_dict"]
    return state_dict


def load_upstream_state_dict(module: nn.Module, state_dict: dict, required_prefixes=DEFAULT_REQUIRED,
                             source: str = "checkpoint") -> LoadReport:
    """Map an upstream state dict (or Dassl checkpoint dict) onto ``module`` and load it non-strictly.

    Raises ValueError on any shape mismatch, when a module key under ``required_prefixes`` was not
    provided, or when a checkpoint key that maps under them (or any upstream ``VPT`` key) finds no
    place in the module - a renamed prompt must not silently keep its initial value.
    """
    own = module.state_dict()
    report, mapped = LoadReport(), {}
    for key, value in _unwrap(state_dict).items():
        new_key, action = map_upstream_key(key)
        if action == "drop":
            report.dropped.append(key)
        elif action == "ignore":
            report.ignored.append(key)
        else:
            mapped[new_key] = (key, value)
    mismatched = [f"{orig} -> {k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
                  for k, (orig, v) in mapped.items()
                  if k in own and isinstance(v, torch.Tensor) and v.shape != own[k].shape]
    if mismatched:
        raise ValueError(f"{source}: shape mismatch for " + "; ".join(mismatched))
    result = module.load_state_dict({k: v for k, (_, v) in mapped.items()}, strict=False)
    report.unexpected = [mapped[k][0] for k in result.unexpected_keys]
    report.missing = list(result.missing_keys)
    report.loaded = [k for k in mapped if k in own]
    lost = [orig for k, (orig, _) in mapped.items()
            if k not in own and (k.startswith(tuple(required_prefixes)) or "VPT" in orig)]
    absent = [k for k in report.missing if k.startswith(tuple(required_prefixes))]
    if lost or absent:
        raise ValueError(f"{source}: required prompt parameters were not loaded. "
                         f"Checkpoint keys without a place in the model: {lost}; "
                         f"model keys missing from the checkpoint: {absent}")
    return report
