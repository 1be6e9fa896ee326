"""DAPT: distribution-aware prompt tuning (the CaPT repository's ``DAPT`` trainer).

Features:
    * 16 learnable text context tokens (N(0, 0.02^2)) in front of every class name, ``"X ... X <name>."``;
    * 16 visual prompt tokens inserted right after CLS once ``ln_pre`` has run (``[CLS, prompts, patches]``),
      initialised U(-v, v) with ``v = sqrt(6 / (3 * patch^2 + width))``, optional dropout;
    * loss ``CE + VIS_BETA * MSE(norm f, proto[y]) + TXT_BETA * mean_{i<j} exp(-TXT_RBF_T |t_i - t_j|^2)``:
      image features are pulled to per-class prototypes, class text features pushed apart.

Prototypes (``<dataset>/split_fewshot/shot_<K>-seed_<S>_prototype.pkl``, under ``DATASET.CACHE_DIR`` when
set, like the few-shot caches): per class, the mean normalised
frozen-CLIP feature of its few-shot training images (all classes, one pass of the training augmentation).
Write them first with the same dataset/seed/shots and ``TRAINER.DAPT.PROTOTYPE_GEN True`` (that run writes
the file and does not train); training loads them, evaluation never needs them.

Flags: ``TRAINER.DAPT.{VIS_NUM_TOKENS, VIS_DROPOUT, VIS_BETA, TXT_NUM_TOKENS, TXT_RBF_T, TXT_BETA,
PROTOTYPE_GEN}``, ``TRAINER.PREC``. Checkpoints: ``<output>/learnable_params/`` with
``prompt_learner.{vis_ctx, txt_ctx, token_prefix, token_suffix}``.
"""

from __future__ import annotations

import logging
import math
import os

import torch
import torch.nn.functional as F
from torch import nn

from clip import l2_normalize
from dassl.atomic_io import write_pickle_atomic
from dassl.config import add_cfg_node, cfg_hook
from dassl.config.engine_keys import cfg_get
from dassl.data.data_manager import DatasetWrapper
from dassl.data.transforms import build_transform
from dassl.engine import TRAINER_REGISTRY
from dassl.engine.reporting import run_metadata, write_unevaluated_run
from dassl.utils import load_tensor_pickle
from dassl.utils.distributed import is_main_process
from datasets.splits import cache_write, fewshot_cache_path, find_fewshot_file, load_pickled_items
from trainers.common.class_offsets import ClassOffsetSlot
from trainers.common.learnable_params import (
    LearnableParamsNetwork,
    LearnableParamsTrainer,
    class_prompt_tokens,
)

log = logging.getLogger(__name__)


@cfg_hook
def add_dapt_cfg(cfg) -> None:
    add_cfg_node(cfg, "TRAINER.DAPT", {
        "VIS_NUM_TOKENS": 16, "VIS_DROPOUT": 0.0, "VIS_BETA": 0.1,
        "TXT_NUM_TOKENS": 16, "TXT_RBF_T": 2.0, "TXT_BETA": 0.1, "PROTOTYPE_GEN": False,
    })


class DAPTPromptLearner(ClassOffsetSlot, nn.Module):
    """Text context ``txt_ctx`` [n_t, W_text] and visual prompts ``vis_ctx`` [1, n_v, W_vision].

    It is also the vision prompt provider handed to ``clip``'s image tower (placement "after_cls", no
    deep prompts). ``token_prefix``/``token_suffix`` depend on the class list (dropped on load). A plug-in
    may fill its offsets slot (:mod:`trainers.common.class_offsets`): the text context becomes
    ``txt_ctx + m_c``; the visual prompts never change.
    """

    placement = "after_cls"

    def __init__(self, clip_model, classnames: list[str], n_vis: int = 16, n_txt: int = 16,
                 vis_dropout: float = 0.0):
        super().__init__()
        if n_vis < 1 or n_txt < 1:
            raise ValueError(f"TRAINER.DAPT.VIS_NUM_TOKENS / TXT_NUM_TOKENS must be >= 1, "
                             f"got {n_vis} / {n_txt}")
        visual = clip_model.visual
        if not hasattr(visual, "conv1") or not hasattr(visual, "transformer"):
            raise ValueError(f"DAPT visual prompts need a ViT image tower, got {type(visual).__name__}")
        dtype = clip_model.dtype
        vis_width, patch = visual.conv1.weight.shape[0], visual.conv1.weight.shape[-1]
        bound = math.sqrt(6.0 / float(3 * patch * patch + vis_width))
        self.vis_ctx = nn.Parameter(torch.empty(1, n_vis, vis_width, dtype=dtype).uniform_(-bound, bound))
        txt_width = clip_model.ln_final.weight.shape[0]
        self.txt_ctx = nn.Parameter(torch.empty(n_txt, txt_width, dtype=dtype).normal_(std=0.02))
        self.vpt_dropout = nn.Dropout(vis_dropout)
        prefix_text = " ".join(["X"] * n_txt)
        log.info(f'Initial context: "{prefix_text}"')
        log.info(f"Number of context words (tokens): {n_txt}")
        prefix, suffix, eot = class_prompt_tokens(clip_model, classnames, prefix_text, n_txt)
        self.register_buffer("token_prefix", prefix)
        self.register_buffer("token_suffix", suffix)
        self.eot_indices = eot
        self.n_cls = len(classnames)

    # vision prompt provider protocol
    def shallow_tokens(self) -> torch.Tensor:
        return self.vpt_dropout(self.vis_ctx[0])

    def block_tokens(self, index: int):
        return None

    def text_prompts(self) -> torch.Tensor:
        ctx = self.offset_context(self.txt_ctx, self.n_cls)
        return torch.cat([self.token_prefix, ctx.to(self.token_prefix.dtype), self.token_suffix], dim=1)


class DAPTNetwork(LearnableParamsNetwork):
    def __init__(self, clip_model, classnames, node, names_to_update=("learnable_params",)):
        super().__init__(clip_model, names_to_update)
        self.learnable_params["prompt_learner"] = DAPTPromptLearner(
            clip_model, classnames, int(node.VIS_NUM_TOKENS), int(node.TXT_NUM_TOKENS),
            float(node.VIS_DROPOUT))

    def image_features(self, image):
        return self.clip.encode_image(image.to(self.dtype), prompts=self.prompt_learner)

    def text_features(self):
        learner = self.prompt_learner
        return self.clip.encode_text_embeddings(learner.text_prompts(), learner.eot_indices)


def text_dispersion(text_feats: torch.Tensor, rbf_t: float) -> torch.Tensor:
    """``mean_{i<j} exp(-rbf_t * |t_i - t_j|^2)`` over normalised class text features (fp32)."""
    return torch.pdist(l2_normalize(text_feats.float()), p=2).pow(2).mul(-rbf_t).exp().mean()


PROTOTYPE_SUFFIX = "_prototype.pkl"


def prototype_path(dataset, num_shots: int, seed: int) -> str:
    """The prototypes of a (dataset, shots, seed), next to its few-shot cache: the existing file (in the
    cache folder or the dataset folder), else where they are written."""
    return find_fewshot_file(fewshot_dirs(dataset), num_shots, seed, suffix=PROTOTYPE_SUFFIX)


def fewshot_dirs(dataset) -> tuple:
    """Where the dataset's few-shot files are looked for; the first is where they are written."""
    return tuple(getattr(dataset, "fewshot_dirs", (dataset.split_fewshot_dir,)))


@torch.no_grad()
def compute_prototypes(clip_model, items, transform, cfg, device, batch_size: int = 64) -> torch.Tensor:
    """Per original label, the mean L2-normalised frozen image feature of ``items`` (one augmented pass)."""
    labels = torch.tensor([item.label for item in items])
    num_classes = int(labels.max()) + 1
    loader = torch.utils.data.DataLoader(DatasetWrapper(cfg, items, transform=transform, is_train=True),
                                         batch_size=batch_size, shuffle=False,
                                         num_workers=cfg.DATALOADER.NUM_WORKERS)
    sums = torch.zeros(num_classes, clip_model.visual.output_dim)
    counts = torch.zeros(num_classes)
    for batch in loader:
        feats = l2_normalize(clip_model.encode_image(batch["img"].to(device).to(clip_model.dtype)).float())
        sums.index_add_(0, batch["label"], feats.cpu())
        counts.index_add_(0, batch["label"], torch.ones(len(batch["label"])))
    missing = (counts == 0).nonzero().flatten().tolist()
    if missing:
        raise ValueError(f"no few-shot image for labels {missing}; cannot build their prototypes")
    return (sums / counts.unsqueeze(1)).to(clip_model.dtype)


@TRAINER_REGISTRY.register()
class DAPT(LearnableParamsTrainer):
    """DAPT (see the module docstring)."""

    def build_network(self):
        cfg = self.cfg
        return DAPTNetwork(self.load_backbone(), self.dm.dataset.classnames, cfg.TRAINER.DAPT,
                           cfg.TRAINER.NAMES_TO_UPDATE)

    def build_model(self):
        super().build_model()
        if self.cfg.TRAINER.DAPT.PROTOTYPE_GEN:
            self.prototype_file = self.generate_prototypes()

    # --------------------------------------------------------------- prototypes
    def generate_prototypes(self) -> str:
        cfg, dataset = self.cfg, self.dm.dataset
        if cfg.DATASET.NUM_SHOTS < 1:
            raise ValueError("TRAINER.DAPT.PROTOTYPE_GEN needs few-shot data: set DATASET.NUM_SHOTS >= 1")
        cache = find_fewshot_file(fewshot_dirs(dataset), cfg.DATASET.NUM_SHOTS, cfg.SEED)
        items = load_pickled_items(cache, ("train",), dataset.dataset_dir)["train"]
        log.info("Prototype generator")
        log.info(f"{cfg.DATASET.NAME} (SHOTS: {cfg.DATASET.NUM_SHOTS}), {len(items)} images from {cache}")
        prototypes = compute_prototypes(self.model.clip, items, build_transform(cfg, is_train=True), cfg,
                                        self.device)
        shots = cfg.DATASET.NUM_SHOTS
        path = fewshot_cache_path(dataset.split_fewshot_dir, shots, cfg.SEED, suffix=PROTOTYPE_SUFFIX)
        with cache_write(path, "DAPT prototype file"):
            write_pickle_atomic(prototypes.cpu(), path)
        log.info(f"Saved prototypes {tuple(prototypes.shape)} to {path}")
        return path

    def load_prototypes(self) -> torch.Tensor:
        """Prototype rows of the current classes (looked up by class name in the full class list)."""
        cfg, dataset = self.cfg, self.dm.dataset
        path = prototype_path(dataset, cfg.DATASET.NUM_SHOTS, cfg.SEED)
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"DAPT prototypes not found at {path}; create them with the same --root/--seed/dataset and "
                f"DATASET.NUM_SHOTS {cfg.DATASET.NUM_SHOTS} plus TRAINER.DAPT.PROTOTYPE_GEN True "
                "(see scripts/dapt/gen_prototype.sh)")
        prototypes = load_tensor_pickle(path)
        all_names = list(getattr(dataset, "all_classnames", dataset.classnames))
        if not torch.is_tensor(prototypes) or prototypes.dim() != 2 or prototypes.shape[0] != len(all_names):
            shape = tuple(prototypes.shape) if torch.is_tensor(prototypes) else type(prototypes).__name__
            raise ValueError(f"{path} must hold a [{len(all_names)}, D] tensor, found {shape}; regenerate it")
        feat_dim = self.model.clip.visual.output_dim
        if prototypes.shape[1] != feat_dim:
            raise ValueError(f"{path} holds {prototypes.shape[1]}-d prototypes but {cfg.MODEL.BACKBONE.NAME} "
                             f"has {feat_dim}-d image features; regenerate them with this backbone")
        rows = [all_names.index(name) for name in dataset.classnames]
        return prototypes[rows].float().to(self.device)

    # ----------------------------------------------------------------- training
    def train(self):
        if self.cfg.TRAINER.DAPT.PROTOTYPE_GEN:
            log.info("TRAINER.DAPT.PROTOTYPE_GEN is set: prototypes written, no training")
            if cfg_get(self.cfg.TEST, "WRITE_RESULTS", True) and is_main_process():
                meta = run_metadata(self.cfg, self.cfg.TRAINER.NAME or type(self).__name__, None,
                                    device=self.device_info)
                write_unevaluated_run(self.output_dir, meta, {"prototypes": self.prototype_file})
            return
        super().train()

    def before_train(self):
        self.prototypes = self.load_prototypes()
        super().before_train()

    def compute_loss(self, image, label):
        node = self.cfg.TRAINER.DAPT
        image_feats = self.model.image_features(image)
        text_feats = self.model.text_features()
        logits = self.model.similarity_logits(image_feats, text_feats)
        losses = {
            "loss_ce": self.classification_loss(logits, label),
            "loss_dist_i": node.VIS_BETA * F.mse_loss(l2_normalize(image_feats.float()),
                                                      self.prototypes[label]),
            "loss_dist_t": node.TXT_BETA * text_dispersion(text_feats, node.TXT_RBF_T),
        }
        return losses, {"acc": self.accuracy(logits, label)}
