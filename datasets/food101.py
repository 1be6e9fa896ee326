"""Food-101 (101 dishes, one folder each)."""

from dassl.data.datasets import DATASET_REGISTRY

from .base import CoOpDataset
from .splits import read_and_split_data


@DATASET_REGISTRY.register()
class Food101(CoOpDataset):
    dataset_dir = "food-101"
    image_subdir = "images"

    def generate_split(self):
        return read_and_split_data(self.image_dir)
