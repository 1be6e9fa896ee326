"""FGVC-Aircraft (100 aircraft variants); the official train / val / test lists define the split."""

import os

from dassl.data.datasets import DATASET_REGISTRY

from .base import CoOpDataset
from .splits import make_items


@DATASET_REGISTRY.register()
class FGVCAircraft(CoOpDataset):
    dataset_dir = "fgvc_aircraft"
    image_subdir = "images"
    uses_split_file = False

    def load_splits(self):
        path = self.require(self.path("variants.txt"), "class list variants.txt")
        with open(path) as f:
            variants = [line.strip() for line in f if line.strip()]
        label_of = {name: label for label, name in enumerate(variants)}
        return tuple(
            self.read_list(f"images_variant_{part}.txt", label_of) for part in ("train", "val", "test")
        )

    def read_list(self, filename: str, label_of: dict):
        """Lines ``<image id> <variant words ...>``; the image is ``images/<image id>.jpg``."""
        path = self.require(self.path(filename), f"image list {filename}")
        records = []
        with open(path) as f:
            for lineno, line in enumerate(f, 1):
                fields = line.split()
                if not fields:
                    continue
                variant = " ".join(fields[1:])
                if variant not in label_of:
                    raise ValueError(f"{path}, line {lineno}: variant {variant!r} is not in variants.txt")
                records.append((os.path.join(self.image_dir, fields[0] + ".jpg"), label_of[variant], variant))
        return make_items(records, path, self.hint)
