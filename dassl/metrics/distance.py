"""Pairwise distances between two sets of feature vectors."""

import torch
from torch.nn import functional as F

__all__ = ["compute_distance_matrix", "euclidean_squared_distance", "cosine_distance"]


def euclidean_squared_distance(input1, input2):
    """``[m, d] x [n, d] -> [m, n]`` squared Euclidean distances."""
    return torch.cdist(input1, input2).pow(2)


def cosine_distance(input1, input2):
    """``[m, d] x [n, d] -> [m, n]`` of ``1 - cosine similarity``."""
    return 1 - F.normalize(input1, dim=1) @ F.normalize(input2, dim=1).t()


def compute_distance_matrix(input1, input2, metric="euclidean"):
    if input1.dim() != 2 or input2.dim() != 2 or input1.size(1) != input2.size(1):
        raise ValueError(
            f"Expected [m, d] and [n, d] inputs, got {tuple(input1.shape)}, {tuple(input2.shape)}"
        )
    if metric == "euclidean":
        return euclidean_squared_distance(input1, input2)
    if metric == "cosine":
        return cosine_distance(input1, input2)
    raise ValueError(f"Unknown distance metric '{metric}'; choose from euclidean, cosine")
