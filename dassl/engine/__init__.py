"""Trainers, the trainer registry and the hook base class."""

from .base import TrainerBase
from .build import TRAINER_REGISTRY, build_trainer
from .hooks import HookBase
from .loading import ClipLoadModelMixin, load_model_dropping_class_buffers
from .simple_net import SimpleNet
from .trainer import SimpleTrainer, TrainerX, TrainerXU

__all__ = [
    "TRAINER_REGISTRY",
    "ClipLoadModelMixin",
    "HookBase",
    "SimpleNet",
    "SimpleTrainer",
    "TrainerBase",
    "TrainerX",
    "TrainerXU",
    "build_trainer",
    "load_model_dropping_class_buffers",
]
