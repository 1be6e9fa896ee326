"""Caltech-101 (100 object classes; the background and easy-faces folders are left out)."""

from dassl.data.datasets import DATASET_REGISTRY

from .base import CoOpDataset
from .splits import read_and_split_data

IGNORED = ("BACKGROUND_Google", "Faces_easy")
# Folder names that are plural or capitalised become the singular, lower-case words CLIP is prompted with.
# Sorting stays case-sensitive, so "Faces", "Leopards", "Motorbikes" take labels 0-2.
NEW_CNAMES = {"airplanes": "airplane", "Faces": "face", "Leopards": "leopard", "Motorbikes": "motorbike"}


@DATASET_REGISTRY.register()
class Caltech101(CoOpDataset):
    dataset_dir = "caltech-101"
    image_subdir = "101_ObjectCategories"

    def generate_split(self):
        return read_and_split_data(self.image_dir, ignored=IGNORED, new_cnames=NEW_CNAMES)
