"""Evaluators (the ``Classification`` result block is what log parsers read)."""

from .build import EVALUATOR_REGISTRY, build_evaluator
from .evaluator import Classification, EvaluatorBase, confusion_matrix, macro_f1_score

__all__ = [
    "EVALUATOR_REGISTRY",
    "Classification",
    "EvaluatorBase",
    "build_evaluator",
    "confusion_matrix",
    "macro_f1_score",
]
