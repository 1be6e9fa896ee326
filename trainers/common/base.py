"""The shared training loop of every CLIP trainer in this project.

A method subclasses :class:`ClipTrainer` and supplies three things:

* ``build_network()`` -> an ``nn.Module`` holding frozen CLIP parts plus its learnable pieces;
  its trainable tensors are declared by ``network.trainable_params()`` (or, by default, by the
  ``requires_grad`` flags the module set itself);
* ``compute_loss(image, label)`` -> ``(losses, metrics)``: a dict of already weighted loss terms
  (summed into the logged ``loss``) and a dict of extra scalars to log (e.g. ``acc``); it receives
  whatever ``parse_batch_train(batch)`` returns (``(image, label)`` by default, more when a method
  needs more of the batch);
* ``model_inference(image)`` -> logits (the default calls the network).

The loop itself (precision/autocast, backward with the NaN check, one LR step per epoch after the
last batch through the :class:`~dassl.engine.hooks.LRScheduler` hook, the checkpoint name, dropping
class-dependent buffers on load) lives here once instead of in every method file. A method that needs
something done around the loop (PromptSRC's weight averaging) returns a hook from ``method_hooks()``.

Under ``torchrun`` (several processes) ``compute_loss`` runs inside DistributedDataParallel around the
trainable tensors only (:func:`dassl.engine.ddp.ddp_loss_step`), so every subclass that trains through
``compute_loss`` and ``backward()`` averages its gradients over the processes without further code; a
subclass that cannot sets ``distributed_unsupported`` to the reason.
"""

from __future__ import annotations

import contextlib
import logging

import torch
from torch import nn

from clip.model import CLIP
from dassl.engine import ClipLoadModelMixin, TrainerX
from dassl.engine.ddp import ddp_loss_step
from dassl.engine.hooks import LRScheduler
from dassl.metrics import compute_accuracy
from dassl.optim import build_lr_scheduler, build_optimizer

# ``PREC`` values: fp16 = half CLIP weights on CUDA (fp32 on CPU), no autocast, as upstream; amp = fp32
# weights, fp16 autocast and loss scaling on CUDA (fp32 on CPU); bf16 = fp32 weights, bf16 autocast on
# CUDA or CPU, no loss scaling; fp32 = full precision. Losses always reduce in fp32.
PRECISIONS = ("fp16", "fp32", "amp", "bf16")

log = logging.getLogger(__name__)


def freeze_all_but(module: nn.Module, trainable: list[nn.Parameter]) -> list[nn.Parameter]:
    """Set ``requires_grad`` so that exactly ``trainable`` (by identity) is optimised."""
    keep = {id(p) for p in trainable}
    for p in module.parameters():
        p.requires_grad_(id(p) in keep)
    return [p for p in module.parameters() if id(p) in keep]


def report_trainable(module: nn.Module, params: list[nn.Parameter]) -> None:
    """Print how many tensors train and their sorted names in ``module`` (upstream's "Parameters to be
    updated"), so a log shows exactly which parts of a network a run optimises."""
    keep = {id(p) for p in params}
    log.info(f"Trainable parameters: {sum(p.numel() for p in params):,} in {len(params)} tensors")
    log.info("Parameters to be updated:")
    for name in sorted(n for n, p in module.named_parameters() if id(p) in keep):
        log.info(f"  - {name}")


def keep_frozen_clip_in_eval(module: nn.Module) -> None:
    """Put every CLIP inside ``module`` whose parameters are all frozen back into eval mode."""
    for sub in module.modules():
        if isinstance(sub, CLIP) and sub.training and not any(p.requires_grad for p in sub.parameters()):
            sub.eval()


def trainable_parameters(module: nn.Module) -> list[nn.Parameter]:
    """Trainable tensors a module declares, falling back to its ``requires_grad`` flags."""
    if hasattr(module, "trainable_params"):
        return list(module.trainable_params())
    return [p for p in module.parameters() if p.requires_grad]


class ClipTrainer(ClipLoadModelMixin, TrainerX):
    """Base class of the CLIP prompt-tuning trainers.

    ``load_model`` follows the CLIP convention (``ClipLoadModelMixin``): class-dependent token buffers
    are dropped from checkpoints and the load is non-strict with missing/unexpected keys reported.

    Class attributes a subclass may set:
        model_name: registered name = checkpoint sub-folder (``prompt_learner``, ``VLPromptLearner``,
            ``learnable_params``) so published scripts and checkpoints keep their layout.
        prec_key: config node holding ``PREC`` (e.g. ``"COOP"`` reads ``TRAINER.COOP.PREC``); ``None``
            means fp32.
        data_wiring: which split wiring the data layer applies (see ``datasets``).
    """

    model_name = "prompt_learner"
    prec_key: str | None = None

    # ----------------------------------------------------------------- set-up
    def check_cfg(self, cfg):
        """Reject an unknown ``PREC`` before anything is built (subclasses extend, calling super)."""
        self._read_precision(cfg)

    def _read_precision(self, cfg) -> str:
        node = cfg.TRAINER.get(self.prec_key) if self.prec_key else None
        prec = node.get("PREC", "fp32") if node is not None else cfg.TRAINER.get("PREC", "fp32")
        if prec not in PRECISIONS:
            raise ValueError(f"{self.precision_key} must be one of {', '.join(PRECISIONS)}, got {prec!r}")
        return prec

    @property
    def precision_key(self) -> str:
        """The config key that holds this trainer's ``PREC`` (for messages)."""
        return f"TRAINER.{self.prec_key}.PREC" if self.prec_key else "TRAINER.PREC"

    @property
    def precision(self) -> str:
        """One of :data:`PRECISIONS`, from the trainer's config node (default fp32)."""
        return self._read_precision(self.cfg)

    @property
    def weight_precision(self) -> str:
        """Precision the frozen CLIP weights are loaded in: half only on CUDA with ``fp16``."""
        return "fp16" if self.precision == "fp16" and self.device.type == "cuda" else "fp32"

    def build_network(self) -> nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError

    def extend_network(self, network: nn.Module) -> nn.Module:
        """Where a plug-in adds its modules to any method's network (after ``build_network``, before the
        trainable tensors are collected); the default leaves the network as built."""
        return network

    def build_model(self):
        cfg = self.cfg
        self.model = self.extend_network(self.build_network()).to(self.device)
        params = freeze_all_but(self.model, trainable_parameters(self.model))
        report_trainable(self.model, params)
        self.optim = build_optimizer(params, cfg.OPTIM, param_groups=self.param_groups(params))
        self.sched = build_lr_scheduler(self.optim, cfg.OPTIM)
        self.register_model(self.model_name, self.registered_module(), self.optim, self.sched)
        self.scaler = torch.amp.GradScaler("cuda") if self.autocast_dtype() == torch.float16 else None

    def registered_module(self) -> nn.Module:
        """The module whose state dict is checkpointed (the whole network by default)."""
        return self.model

    def set_model_mode(self, mode="train", names=None):
        """Switch the registered modules, and the network around them when only a part is registered
        (CoOp registers ``prompt_learner``): its evaluation cache follows the mode. A CLIP without any
        trainable parameter stays in eval mode (its BatchNorm statistics must not move)."""
        super().set_model_mode(mode, names)
        model = getattr(self, "model", None)
        if isinstance(model, nn.Module) and all(model is not m for m in self._models.values()):
            model.train(mode == "train")
        if isinstance(model, nn.Module):
            keep_frozen_clip_in_eval(model)

    def build_hooks(self):
        """The engine's hooks after :class:`~dassl.engine.hooks.LRScheduler`: the schedulers step before
        anything else looks at the finished step."""
        return [LRScheduler(), *super().build_hooks()]

    def param_groups(self, params: list[nn.Parameter]):
        """Optional explicit optimizer groups (staged learning rates); ``None`` = one group."""
        return None

    # ------------------------------------------------------------- training
    def autocast_dtype(self) -> torch.dtype | None:
        """The autocast dtype of this run: fp16 for ``amp`` on CUDA, bf16 for ``bf16``, else ``None``.

        ``amp`` on the CPU computes in fp32 (CPU autocast supports only bf16). ``bf16`` on a GPU
        without bf16 support is an error rather than a silent fallback.
        """
        prec, device = self.precision, self.device.type
        if prec == "amp" and device == "cuda":
            return torch.float16
        if prec == "bf16":
            if device == "cuda" and not torch.cuda.is_bf16_supported():
                raise RuntimeError(f"{self.precision_key} bf16: this GPU ({torch.cuda.get_device_name()}) "
                                   "does not support bfloat16; use amp or fp32")
            return torch.bfloat16
        return None

    def autocast(self):
        """Autocast context of this run (see :meth:`autocast_dtype`); a no-op for fp32 and fp16."""
        dtype = self.autocast_dtype()
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=dtype)

    def parse_batch_train(self, batch):
        return batch["img"].to(self.device), batch["label"].to(self.device)

    def compute_loss(self, image, label):  # pragma: no cover - abstract
        raise NotImplementedError

    def setup_distributed_training(self):
        """Route ``compute_loss`` through DDP over the optimised tensors (called before training)."""
        params = [p for optim in self._optims.values() if optim is not None
                  for group in optim.param_groups for p in group["params"]]
        self._distributed_loss = ddp_loss_step(params, self.compute_loss, self.device)
        self.gradients_synchronised = True

    def release_distributed(self):
        """Also drop the DDP loss step: it and the trainer refer to each other, so left alone it would be
        collected at interpreter exit, after its process group, and could abort there."""
        super().release_distributed()
        self.__dict__.pop("_distributed_loss", None)

    def forward_backward(self, batch):
        inputs = self.parse_batch_train(batch)  # (image, label, *what else the method's loss reads)
        loss_fn = self.__dict__.get("_distributed_loss") or self.compute_loss
        with self.autocast():
            losses, metrics = loss_fn(*inputs)
        loss = self.total_loss(losses)
        self.backward_and_update(loss, losses)
        return self.loss_summary(loss, losses, metrics)

    def total_loss(self, losses: dict) -> torch.Tensor:
        """The trained loss: the sum of the terms. Float addition is not associative, so a method whose
        original code adds its terms in another order overrides this to add them in that order."""
        return sum(losses.values())

    def loss_summary(self, loss, losses, metrics) -> dict:
        """Floats logged for a step: ``loss`` (the sum), each term when there are several, the metrics.

        Override to keep a method's published log keys (e.g. ProGrad logs only its two terms)."""
        summary = {"loss": loss.item()}
        if len(losses) > 1:
            summary.update({k: v.item() for k, v in losses.items()})
        summary.update({k: float(v) for k, v in metrics.items()})
        return summary

    def backward_and_update(self, loss, losses):
        """Zero grads, backward (NaN-checked), step; the AMP scaler is used when enabled."""
        if self.scaler is None:
            self.model_backward_and_update(loss)
            return
        self.model_zero_grad()
        self.scaler.scale(loss).backward()
        self.detect_anomaly(loss)  # after queuing the backward pass (see ``model_backward``)
        for name in self.get_model_names():
            self.scaler.step(self._optims[name])
        self.scaler.update()

    @staticmethod
    def accuracy(logits, label) -> torch.Tensor:
        """Top-1 accuracy (percent) as a 0-d tensor: ``loss_summary`` reads it after the optimizer step, so
        the step never waits for the device in the middle."""
        return compute_accuracy(logits.detach(), label)[0][0]

    # ------------------------------------------------------------ inference
    def model_inference(self, image):
        with self.autocast():
            return self.model(image).float()


class EvalCacheMixin:
    """Memoise values (class text features) while a module is evaluated without gradients.

    ``SimpleTrainer.test`` switches models to eval mode before every evaluation; any ``train()`` /
    ``eval()`` call empties the cache, so text features are encoded once per evaluation and never
    per batch, and a training step always sees fresh features.
    """

    def cached(self, key: str, compute):
        if self.training or torch.is_grad_enabled():
            return compute()
        store = self.__dict__.setdefault("_eval_cache", {})
        if key not in store:
            store[key] = compute()
        return store[key]

    def train(self, mode: bool = True):
        self.__dict__["_eval_cache"] = {}
        return super().train(mode)
