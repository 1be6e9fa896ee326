"""Datasets, samplers, transforms and the data manager."""

from .data_manager import DataManager, DatasetWrapper

__all__ = ["DataManager", "DatasetWrapper"]
