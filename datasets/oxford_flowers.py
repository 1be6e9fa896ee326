"""Oxford 102 Flowers (102 species); labels from ``imagelabels.mat``, names from ``cat_to_name.json``."""

import logging
import os
from collections import defaultdict

from dassl.data.datasets import DATASET_REGISTRY, Datum
from dassl.utils import read_json

from .base import CoOpDataset
from .matfile import load_mat, mat_field
from .splits import check_files_exist, split_per_class

log = logging.getLogger(__name__)


@DATASET_REGISTRY.register()
class OxfordFlowers(CoOpDataset):
    dataset_dir = "oxford_flowers"
    image_subdir = "jpg"

    def generate_split(self):
        label_file = self.require(self.path("imagelabels.mat"), "label file imagelabels.mat")
        names_file = self.require(self.path("cat_to_name.json"), "class-name file cat_to_name.json")
        labels = mat_field(load_mat(label_file, self.name), "labels", label_file).reshape(-1)
        names = read_json(names_file)

        # image_00001.jpg has the first label; group images by their 1-based label in first-seen order.
        by_label = defaultdict(list)
        for i, label in enumerate(labels, 1):
            by_label[int(label)].append(os.path.join(self.image_dir, f"image_{i:05d}.jpg"))
        check_files_exist([p for paths in by_label.values() for p in paths], label_file, self.hint)
        missing = [str(y) for y in by_label if str(y) not in names]
        if missing:
            raise KeyError(f"{names_file} has no name for label(s) {missing[:10]} used in {label_file}")

        log.info("Splitting data into 50% train, 20% val, and 30% test")
        train, val, test = [], [], []
        for label, paths in by_label.items():
            parts = split_per_class(paths, 0.5, 0.2, f"Class {label} of {label_file}")
            for items, part in zip((train, val, test), parts):
                items.extend(Datum(impath=p, label=label - 1, classname=names[str(label)]) for p in part)
        return train, val, test
