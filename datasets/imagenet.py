"""ImageNet-1k: train folders for training, the validation set (in class folders) as the test set."""

from __future__ import annotations

import logging
import os
from collections import OrderedDict

from dassl.atomic_io import write_pickle_atomic
from dassl.data.datasets import DATASET_REGISTRY

from .base import CoOpDataset
from .splits import cache_write, load_pickled_items, make_items

log = logging.getLogger(__name__)

PREPROCESSED = "preprocessed.pkl"  # the train/test lists, read once from the folders


def read_classnames(path: str) -> OrderedDict:
    """``classnames.txt``: lines ``<wnid> <class name words ...>`` -> ordered ``{wnid: name}``."""
    names = OrderedDict()
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) < 2:
                raise ValueError(f"{path}, line {lineno}: expected '<wnid> <class name>', got {line!r}")
            names[fields[0]] = " ".join(fields[1:])
    return names


def class_folders(folder: str) -> list[str]:
    """Sub-folders of ``folder`` in sorted order (the label order)."""
    return sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())


@DATASET_REGISTRY.register()
class ImageNet(CoOpDataset):
    """Uses ``preprocessed.pkl`` (``{"train", "test"}`` lists, absolute paths) as its split file.

    There is no val split: the few-shot cache holds only ``{"train"}`` and the wiring uses the test set
    (ImageNet's official validation images) as val.
    """

    dataset_dir = "imagenet"
    image_subdir = "images"
    uses_split_file = False

    def locate(self, root: str, cache_dir: str = "") -> None:
        super().locate(root, cache_dir)
        self.preprocessed = os.path.join(self.cache_dir, PREPROCESSED)  # where it is written
        self.classnames_file = self.path("classnames.txt")

    @property
    def wnids(self) -> list[str]:
        """WordNet ids in label order (the order of ``classnames.txt``, which must be sorted)."""
        return list(read_classnames(self.require(self.classnames_file, "class list classnames.txt")))

    def load_splits(self):
        existing = self.find_cached(PREPROCESSED)
        if existing:
            data = load_pickled_items(existing, ("train", "test"), self.dataset_dir, self.hint)
            return data["train"], None, data["test"]
        classnames = read_classnames(self.require(self.classnames_file, "class list classnames.txt"))
        train = self.read_folder("train", classnames)
        test = self.read_folder("val", classnames)
        with cache_write(self.preprocessed, "ImageNet list cache"):
            write_pickle_atomic({"train": train, "test": test}, self.preprocessed)
        log.info(f"Saved preprocessed data to {self.preprocessed}")
        return train, None, test

    def read_folder(self, split: str, classnames: OrderedDict):
        folder = self.require(os.path.join(self.image_dir, split), f"image folder images/{split}")
        records = []
        for label, wnid in enumerate(class_folders(folder)):
            if wnid not in classnames:
                raise KeyError(
                    f"{self.classnames_file} has no class name for folder {os.path.join(folder, wnid)}"
                )
            class_dir = os.path.join(folder, wnid)
            for name in sorted(f for f in os.listdir(class_dir) if not f.startswith(".")):
                records.append((os.path.join(class_dir, name), label, classnames[wnid]))
        return make_items(records, folder, self.hint)
