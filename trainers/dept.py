"""DePT on KgCoOp: decoupled prompt tuning (the CaPT repository's ``KgCoOpDePT`` trainer).

Features:
    * KgCoOp's prompts, anchors and knowledge-gap term (``TRAINER.KGCOOP``);
    * a linear head over the base classes fed by FiLM-modulated, un-normalised features:
      ``X = [FiLM_t(t)[y]; FiLM_v(v)]`` (text rows of the batch labels, then image features), labels
      ``[y; y]``;
    * loss ``(1 - l) * CE(ITM, y) + l * CE(head(X), [y; y]) + W * (1 - mean cos(t, t0))``, ``l`` =
      ``TRAINER.DEPT.CLS_WEIGHT``;
    * inference on base classes fuses ``(1 - l) * ITM + l * head(FiLM_v(v))``; on other class lists the
      head does not exist and only the ITM logits are used;
    * staged learning rate, always on: parameters whose name contains ``classifier`` or ``film`` (or the
      entries of ``OPTIM.NEW_LAYERS`` when set) train at ``LR * OPTIM.NEW_LR_MULT``, the rest at ``LR``.

The head exists when ``DATASET.SUBSAMPLE_CLASSES`` is ``base``, or ``all`` for an ImageNet source.
Checkpoints: ``<output>/learnable_params/`` with ``film_img.*``, ``film_text.*``, ``classifier.*``.
"""

from __future__ import annotations

import logging
import os

import torch
import torch.nn.functional as F
from torch import nn

from clip import l2_normalize
from dassl.config import add_cfg_node, cfg_hook
from dassl.engine import TRAINER_REGISTRY
from trainers.common.learnable_params import LearnableParamsTrainer
from trainers.kgcoop import KgCoOpNetwork, knowledge_gap, refuse_coop_layout

log = logging.getLogger(__name__)

NEW_LAYERS = ("classifier", "film")


@cfg_hook
def add_dept_cfg(cfg) -> None:
    add_cfg_node(cfg, "TRAINER.DEPT", {"CLS_WEIGHT": 0.7})
    # Learning-rate multiplier of the staged "new" layers (DePT's head and FiLMs).
    add_cfg_node(cfg, "OPTIM", {"NEW_LR_MULT": 6.5})


class FiLM(nn.Module):
    """Channel-wise ``scale * x + bias`` (``scale`` starts at ones, ``bias`` at zeros)."""

    def __init__(self, dim: int):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale.to(x.dtype) * x + self.bias.to(x.dtype)


def has_head(subsample: str, dataset_name: str) -> bool:
    """The linear head is trained on base classes (or all ImageNet classes as a cross-dataset source)."""
    return subsample == "base" or (subsample == "all" and "ImageNet" in dataset_name)


def staged_param_groups(named_params, lr: float, new_lr_mult: float, new_layers=NEW_LAYERS):
    """Two optimizer groups: names containing any of ``new_layers`` at ``lr * new_lr_mult``, others at ``lr``.

    Returns ``(groups, base_names, new_names)``.
    """
    base, new, base_names, new_names = [], [], [], []
    for name, param in named_params:
        if any(layer in name for layer in new_layers):
            new.append(param)
            new_names.append(name)
        else:
            base.append(param)
            base_names.append(name)
    groups = [{"params": base, "lr": lr}]
    if new:
        groups.append({"params": new, "lr": lr * new_lr_mult})
    return groups, base_names, new_names


def source_rows(dataset) -> list[int] | None:
    """For an ImageNet variant (ImageNet-A/R...), the rows of an ImageNet-trained head its classes keep."""
    wnids = getattr(dataset, "wnids", None)
    if not wnids:
        return None
    from datasets.imagenet import read_classnames

    order = list(read_classnames(os.path.join(dataset.dataset_dir, "classnames.txt")))
    return [order.index(w) for w in wnids]


def keep_source_rows(head: nn.Linear, rows: list[int]) -> None:
    """Make ``head`` load a head trained on more classes by keeping only ``rows`` of its weight and bias."""

    def slice_rows(state_dict, prefix, *args):
        for key in (prefix + "weight", prefix + "bias"):
            value = state_dict.get(key)
            if value is not None and value.shape[0] != head.out_features and value.shape[0] > max(rows):
                log.info(f"Keeping {len(rows)} of the {value.shape[0]} rows of {key} "
                         "(classes of this dataset)")
                state_dict[key] = value[rows]

    head._register_load_state_dict_pre_hook(slice_rows)


class KgCoOpDePTNetwork(KgCoOpNetwork):
    """KgCoOp network plus ``film_img``, ``film_text`` and, on base classes, ``classifier``."""

    def __init__(self, clip_model, classnames, cfg, with_head: bool):
        super().__init__(clip_model, classnames, cfg)
        dim = clip_model.text_projection.shape[1]
        self.learnable_params["film_img"] = FiLM(dim)
        self.learnable_params["film_text"] = FiLM(dim)
        if with_head:
            self.learnable_params["classifier"] = nn.Linear(dim, len(classnames)).to(clip_model.dtype)
        self.cls_weight = float(cfg.TRAINER.DEPT.CLS_WEIGHT)

    @property
    def head(self) -> nn.Module | None:
        return self.learnable_params["classifier"] if "classifier" in self.learnable_params else None

    def head_logits(self, text_feats, image_feats, label):
        """Head logits over ``[FiLM_t(t)[y]; FiLM_v(v)]`` and their labels ``[y; y]``."""
        text_rows = self.learnable_params["film_text"](text_feats)[label]
        images = self.learnable_params["film_img"](image_feats)
        feats = torch.cat([text_rows, images.to(text_rows.dtype)])
        return self.head(feats.to(self.head.weight.dtype)), torch.cat([label, label])

    def forward(self, image):
        image_feats = self.image_features(image)
        logits = self.similarity_logits(image_feats, self.class_text_features())
        if self.head is None:
            return logits
        head = self.head(self.learnable_params["film_img"](image_feats).to(self.head.weight.dtype))
        return (1 - self.cls_weight) * logits + self.cls_weight * head.to(logits.dtype)


@TRAINER_REGISTRY.register()
class KgCoOpDePT(LearnableParamsTrainer):
    """DePT on KgCoOp (see the module docstring): KgCoOp's network and knowledge-gap term are composed in,
    its trainer is not inherited (every step differs)."""

    def check_cfg(self, cfg):
        refuse_coop_layout(cfg, type(self).__name__)
        super().check_cfg(cfg)

    def build_network(self):
        cfg = self.cfg
        with_head = has_head(cfg.DATASET.SUBSAMPLE_CLASSES, cfg.DATASET.NAME)
        log.info(f"Linear head over {len(self.dm.dataset.classnames)} classes" if with_head
                 else "No linear head for this class list: inference uses the image-text logits only")
        return KgCoOpDePTNetwork(self.load_backbone(), self.dm.dataset.classnames, cfg, with_head)

    def build_model(self):
        super().build_model()
        rows = source_rows(self.dm.dataset)
        if rows is not None and self.model.head is not None:
            keep_source_rows(self.model.head, rows)

    def param_groups(self, params):
        keep = {id(p) for p in params}
        named = [(n, p) for n, p in self.model.learnable_params.named_parameters() if id(p) in keep]
        optim = self.cfg.OPTIM
        new_layers = tuple(optim.NEW_LAYERS) or NEW_LAYERS
        groups, base_names, new_names = staged_param_groups(named, optim.LR, optim.NEW_LR_MULT, new_layers)
        log.info("Use staged learning rate!")
        log.info(f"Base modules (lr={optim.LR}):")
        for name in base_names:
            log.info(f"  - {name}")
        log.info(f"New modules (lr={optim.LR * optim.NEW_LR_MULT}):")
        for name in new_names:
            log.info(f"  - {name}")
        return groups

    def compute_loss(self, image, label):
        net = self.model
        if net.head is None:
            raise RuntimeError("KgCoOpDePT trains only with a head: set DATASET.SUBSAMPLE_CLASSES base "
                               "(or all for an ImageNet source)")
        image_feats = net.image_features(image)
        text_feats = net.text_features()
        logits = net.similarity_logits(image_feats, text_feats)
        head_logits, head_labels = net.head_logits(text_feats, image_feats, label)
        weight = net.cls_weight
        losses = {
            "loss_itm": (1 - weight) * self.classification_loss(logits, label),
            "loss_head": weight * F.cross_entropy(head_logits.float(), head_labels),
            "loss_kg": self.cfg.TRAINER.KGCOOP.W * knowledge_gap(l2_normalize(text_feats), net.anchors),
        }
        return losses, {}
