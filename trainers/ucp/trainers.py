"""CaPT trainers: each is one baseline with :class:`CaPTPlugin` as its ``plugin_type`` (the plug-in, written
once, composed rather than inherited).

| trainer | wraps | what CaPT adds |
|---|---|---|
| ``UCPCoOp`` | CoOp (CaPT protocol: 4 tokens "a photo of a") | offsets on the 4 context tokens; the
  conditioning ablation ``TRAINER.UCP.VERSION`` |
| ``UCPKgCoOp`` | ``KgCoOp`` | offsets on the 4 context tokens |
| ``UCPProGrad`` | ``ProGrad`` | offsets; the meta-net takes part in the gradient projection |
| ``UCPDAPT`` | ``DAPT`` | offsets on the 16 text context tokens (visual prompts unchanged) |
| ``UCPKgCoOpDePT`` (DeCaPT) | ``KgCoOpDePT`` | offsets; the meta-net trains at the base learning rate |

In every case the baseline's image-text cross-entropy becomes the margin loss
(:mod:`trainers.ucp.margin_loss`) built from the TCI similarity of the current classes; nothing else in the
objective changes. Flags: ``TRAINER.UCP.*`` (below). Checkpoints: ``<output>/learnable_params/`` with
``prompt_learner.ucp.unified_transfer.*``; TCI vectors are recomputed for the class list of each run, so a
base-trained run evaluates new classes with ``--eval-only --model-dir <run> DATASET.SUBSAMPLE_CLASSES new``.
"""

from __future__ import annotations

import logging

import torch

from dassl.config import add_cfg_node, cfg_hook
from dassl.engine import TRAINER_REGISTRY
from datasets.templates import get_templates
from trainers.common.coop_prompt import CoOpPromptLearner, build_coop_prompt_learner
from trainers.common.learnable_params import (
    LearnableParamsNetwork,
    LearnableParamsTrainer,
    check_end_position,
    coop_text_features,
)
from trainers.dapt import DAPT
from trainers.dept import KgCoOpDePT
from trainers.kgcoop import KgCoOp
from trainers.prograd import ProGrad
from trainers.ucp.margin_loss import MarginLoss, class_similarity
from trainers.ucp.plugin import CONDITION_NAMES, ClassConditioner, attach
from trainers.ucp.tci import load_or_extract_tci

log = logging.getLogger(__name__)


@cfg_hook
def add_ucp_cfg(cfg) -> None:
    add_cfg_node(cfg, "TRAINER.UCP", {
        "MODULE": "mlp",  # mlp | linear | attn
        "HIDDEN_DIM": 32,
        "DROPOUT": 0.1,
        "TOKENIZER_MODE": "clip",  # only "clip" (frozen CLIP text features) is implemented
        "TOKENIZER": "xxx",  # word-vector file of the other modes (unused)
        "REDUCE_DIM": 512,  # fastText reduction of the other modes (unused)
        "SCALE": 1.0,  # > 0: fixed input multiplier; <= 0: learnable gate sigmoid(a), a = 0 at start
        "LOSS": {"USE_SIM": True, "SMOOTH": 0.0031},
        "VERSION": 0,  # meta-net condition (UCPCoOp only): 0 TCI, 1 FRN, 2 VTI, 3 VCI
        "INSERT_LAYER": 5,  # unused (unreleased deep variants)
        "DEEP_HIDDEN_DIM": 128,  # unused
        "DEEP_DROPOUT": 0.1,  # unused
        "CACHE_DIR": "cache",  # TCI cache folder ("" disables caching)
    })


class CaPTPlugin:
    """CaPT on any ``LearnableParamsTrainer`` whose network has ``clip`` and a ``prompt_learner`` with an
    offsets slot (:mod:`trainers.common.class_offsets`): the meta-net fills the slot, and the margin loss
    replaces the classification loss. Set as a trainer's ``plugin_type``."""

    def __init__(self, cfg):
        ucp = cfg.TRAINER.UCP
        if ucp.TOKENIZER_MODE != "clip":
            raise NotImplementedError(f"TRAINER.UCP.TOKENIZER_MODE {ucp.TOKENIZER_MODE!r}: only 'clip' is "
                                      "implemented (glove / fasttext / wikipedia2vec vectors are not)")
        if ucp.VERSION not in CONDITION_NAMES:
            raise ValueError(f"TRAINER.UCP.VERSION must be one of {sorted(CONDITION_NAMES)}, "
                             f"got {ucp.VERSION}")
        self.cfg = cfg
        self.margin_loss = None

    def attach(self, trainer, net) -> None:
        cfg, ucp = self.cfg, self.cfg.TRAINER.UCP
        clip_model, classnames = net.clip, trainer.dm.dataset.classnames
        # The offsets are added to context tokens, so the meta-net outputs the text width. On ViT-B/16 that
        # equals the feature size (512) the reference code uses; on the toy CLIPs (width 64, features 128)
        # only this choice fits.
        width = clip_model.ln_final.weight.shape[0]
        template = get_templates(cfg.DATASET.NAME).zero_shot
        label = f"clip_{cfg.DATASET.SUBSAMPLE_CLASSES}_{cfg.DATASET.NAME}"
        tci = load_or_extract_tci(clip_model, classnames, template, ucp.CACHE_DIR, label)
        condition, persistent = self.meta_net_condition(tci, trainer, net)
        log.info(f"CaPT meta-net ({ucp.MODULE}, hidden {ucp.HIDDEN_DIM}) conditioned on "
                 f"{CONDITION_NAMES[self.condition_version]} {tuple(condition.shape)}")
        conditioner = ClassConditioner(condition, width, ucp.MODULE, int(ucp.HIDDEN_DIM), float(ucp.DROPOUT),
                                       float(ucp.SCALE), clip_model.dtype, persistent)
        attach(net.prompt_learner, conditioner)
        similarity = class_similarity(tci) if ucp.LOSS.USE_SIM else None
        self.margin_loss = MarginLoss(len(classnames), similarity, float(ucp.LOSS.SMOOTH))

    @property
    def condition_version(self) -> int:
        return 0

    def meta_net_condition(self, tci: torch.Tensor, trainer, net) -> tuple[torch.Tensor, bool]:
        """The meta-net input and whether it is saved with the checkpoint (TCI: no)."""
        return tci, False

    def classification_loss(self, logits, label):
        return self.margin_loss(logits, label)


class CaPTConditionAblation(CaPTPlugin):
    """CaPT with the meta-net condition of ``TRAINER.UCP.VERSION``: 1 = one fixed random vector (saved in the
    checkpoint), 2 = mean frozen image feature of the few-shot training images, 3 = per-class mean of those
    features. The margin loss always uses the TCI similarity."""

    @property
    def condition_version(self) -> int:
        return int(self.cfg.TRAINER.UCP.VERSION)

    def meta_net_condition(self, tci, trainer, net):
        version = self.condition_version
        if version == 0:
            return tci, False
        if version == 1:
            return torch.randn(1, tci.shape[1]), True
        feats, labels = train_image_features(trainer.train_loader_x, net, trainer.device,
                                             self.cfg.DATALOADER.NUM_WORKERS)
        if version == 2:
            return feats.mean(dim=0, keepdim=True), False
        present = labels.unique(sorted=True).tolist()
        if present != list(range(len(trainer.dm.dataset.classnames))):
            raise ValueError(f"TRAINER.UCP.VERSION 3 needs training images of every class; "
                             f"found labels {present}")
        return torch.stack([feats[labels == y].mean(dim=0) for y in present]), False


@torch.no_grad()
def train_image_features(train_loader, net, device, num_workers: int):
    """Frozen image features (un-normalised, fp32) and labels of every training image (one pass over the
    dataset of ``train_loader``, with its transforms, keeping the last partial batch)."""
    loader = torch.utils.data.DataLoader(train_loader.dataset, shuffle=False, drop_last=False,
                                         batch_size=train_loader.batch_size, num_workers=num_workers)
    feats, labels = [], []
    for batch in loader:
        image = batch["img"].to(device)
        feats.append(net.clip.encode_image(image.to(net.dtype)).float().cpu())
        labels.append(batch["label"])
    return torch.cat(feats), torch.cat(labels)


# ------------------------------------------------------------------------------------------------ CoOp
def build_coop_learner(clip_model, classnames: list[str], node) -> CoOpPromptLearner:
    """CoOp's learner from ``cfg.TRAINER.COOP`` ("end" position only: CaPT offsets the context tokens)."""
    check_end_position(node.CLASS_TOKEN_POSITION, "TRAINER.COOP.CLASS_TOKEN_POSITION")
    return build_coop_prompt_learner(node, classnames, clip_model)


class CaPTRepoCoOpNetwork(LearnableParamsNetwork):
    def __init__(self, clip_model, classnames, node, names_to_update=("learnable_params",)):
        super().__init__(clip_model, names_to_update)
        self.learnable_params["prompt_learner"] = build_coop_learner(clip_model, classnames, node)

    def text_features(self):
        return coop_text_features(self.clip, self.prompt_learner)


class CaPTRepoCoOp(LearnableParamsTrainer):
    """The CaPT repository's CoOp as a base for ``UCPCoOp``: ``TRAINER.COOP`` prompts (the published config
    uses 4 tokens initialised from "a photo of a"), cross-entropy, registered ``learnable_params``.
    Not registered: the ``CoOp`` name belongs to :mod:`trainers.coop`."""

    def build_network(self):
        return CaPTRepoCoOpNetwork(self.load_backbone(), self.dm.dataset.classnames, self.cfg.TRAINER.COOP,
                           self.cfg.TRAINER.NAMES_TO_UPDATE)

    def compute_loss(self, image, label):
        logits = self.model(image)
        return {"loss": self.classification_loss(logits, label)}, {"acc": self.accuracy(logits, label)}


@TRAINER_REGISTRY.register()
class UCPCoOp(CaPTRepoCoOp):
    """CoOp + CaPT, with the conditioning ablation ``TRAINER.UCP.VERSION`` (:class:`CaPTConditionAblation`).
    Logs ``loss``."""

    plugin_type = CaPTConditionAblation

    def loss_summary(self, loss, losses, metrics):
        return {"loss": loss.item()}


@TRAINER_REGISTRY.register()
class UCPKgCoOp(KgCoOp):
    """KgCoOp + CaPT; logs ``loss_cls``, ``loss_kg`` and their sum ``loss_total``."""

    plugin_type = CaPTPlugin

    def compute_loss(self, image, label):
        losses, _ = super().compute_loss(image, label)
        return {"loss_cls": losses["loss_ce"], "loss_kg": losses["loss_kg"]}, {}

    def loss_summary(self, loss, losses, metrics):
        summary = {k: v.item() for k, v in losses.items()}
        summary["loss_total"] = loss.item()
        return summary


@TRAINER_REGISTRY.register()
class UCPProGrad(ProGrad):
    """ProGrad + CaPT."""

    plugin_type = CaPTPlugin


@TRAINER_REGISTRY.register()
class UCPDAPT(DAPT):
    """DAPT + CaPT (the published config uses ``TRAINER.UCP.LOSS.SMOOTH 0``, i.e. plain cross-entropy)."""

    plugin_type = CaPTPlugin


@TRAINER_REGISTRY.register()
class UCPKgCoOpDePT(KgCoOpDePT):
    """DeCaPT: KgCoOpDePT + CaPT."""

    plugin_type = CaPTPlugin
