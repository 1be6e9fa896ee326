"""Trainers and the trainer registry."""

from .base import TrainerBase
from .build import TRAINER_REGISTRY, build_trainer
from .loading import ClipLoadModelMixin, load_model_dropping_class_buffers
from .simple_net import SimpleNet
from .trainer import SimpleTrainer, TrainerX, TrainerXU

__all__ = [
    "TRAINER_REGISTRY",
    "ClipLoadModelMixin",
    "SimpleNet",
    "SimpleTrainer",
    "TrainerBase",
    "TrainerX",
    "TrainerXU",
    "build_trainer",
    "load_model_dropping_class_buffers",
]
