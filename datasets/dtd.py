"""Describable Textures Dataset (47 texture classes, one folder each)."""

from dassl.data.datasets import DATASET_REGISTRY

from .base import CoOpDataset
from .splits import read_and_split_data


@DATASET_REGISTRY.register()
class DescribableTextures(CoOpDataset):
    dataset_dir = "dtd"
    image_subdir = "images"

    def generate_split(self):
        return read_and_split_data(self.image_dir)
