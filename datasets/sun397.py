"""SUN397 (397 scene categories), with the first official train / test partition."""

import os

from dassl.data.datasets import DATASET_REGISTRY

from .base import CoOpDataset
from .splits import make_items, split_trainval


def scene_name(category: str) -> str:
    """``a/apartment_building/outdoor`` -> ``outdoor apartment_building``.

    The leading letter folder is dropped and the remaining parts are reversed, so qualifiers such as
    ``indoor`` / ``outdoor`` come first.
    """
    return " ".join(category.split("/")[1:][::-1])


@DATASET_REGISTRY.register()
class SUN397(CoOpDataset):
    dataset_dir = "sun397"
    image_subdir = "SUN397"

    def generate_split(self):
        path = self.require(self.path("ClassName.txt"), "class list ClassName.txt")
        with open(path) as f:
            categories = [line.strip().lstrip("/") for line in f if line.strip()]
        label_of = {c: i for i, c in enumerate(categories)}
        trainval = self.read_list("Training_01.txt", label_of)
        test = self.read_list("Testing_01.txt", label_of)
        train, val = split_trainval(trainval)
        return train, val, test

    def read_list(self, filename: str, label_of: dict):
        """Lines ``/<letter>/<category>[/<sub>]/<image>``, relative to the image folder."""
        path = self.require(self.path(filename), f"image list {filename}")
        records = []
        with open(path) as f:
            for lineno, line in enumerate(f, 1):
                relpath = line.strip().lstrip("/")
                if not relpath:
                    continue
                category = os.path.dirname(relpath)
                if category not in label_of:
                    raise ValueError(f"{path}, line {lineno}: category {category!r} is not in ClassName.txt")
                records.append(
                    (os.path.join(self.image_dir, relpath), label_of[category], scene_name(category))
                )
        return make_items(records, path, self.hint)
