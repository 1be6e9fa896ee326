"""Test-only ImageNet variants: ImageNet-V2, ImageNet-Sketch, ImageNet-A, ImageNet-R.

Each folder keeps a copy of ImageNet's ``classnames.txt``; names are looked up by wnid. The one image list
is both ``train_x`` (which fixes the class list) and ``test``; there is no val. ``DATASET.SUBSAMPLE_CLASSES``
is applied to it as the DePT repository does (``all`` keeps the CoOp behaviour). The data wiring does not
apply: with a single list there is nothing to route.
"""

from __future__ import annotations

import os

from dassl.data.datasets import DATASET_REGISTRY, DatasetBase
from dassl.utils import listdir_nohidden

from .base import docs_hint, locate_dataset_dir, require_path
from .imagenet import read_classnames
from .splits import make_items, subsample_classes
from .templates import TemplateMixin
from .wiring import check_wiring


class ImageNetVariant(TemplateMixin, DatasetBase):
    """Shared constructor; subclasses set the folders and :meth:`class_folders`.

    Attributes: ``wnids`` (the variant's classes in label order) so that a classifier trained on the 1000
    ImageNet classes can keep only these rows.
    """

    dataset_dir = ""
    image_subdir = ""
    ignored: tuple[str, ...] = ()

    def __init__(self, cfg, wiring: str | None = "coop"):
        self.wiring = check_wiring(wiring)
        name = type(self).__name__
        hint = docs_hint(name)
        self.root = os.path.abspath(os.path.expanduser(cfg.DATASET.ROOT))
        self.dataset_dir = locate_dataset_dir(self.root, type(self).dataset_dir, name, hint)
        self.image_dir = require_path(
            os.path.join(self.dataset_dir, self.image_subdir), "image folder", name, hint
        )
        classnames_file = require_path(
            os.path.join(self.dataset_dir, "classnames.txt"), "classnames.txt", name, hint
        )
        classnames = read_classnames(classnames_file)

        self.wnids, records = [], []
        for label, (folder, wnid) in enumerate(self.class_folders(classnames)):
            if wnid not in classnames:
                raise KeyError(f"{classnames_file} has no class name for folder {folder}")
            self.wnids.append(wnid)
            class_dir = os.path.join(self.image_dir, folder)
            for image in sorted(listdir_nohidden(class_dir)):
                records.append((os.path.join(class_dir, image), label, classnames[wnid]))
        data = make_items(records, self.image_dir, hint)
        self.all_classnames = [classnames[w] for w in self.wnids]

        data = subsample_classes(data, subsample=cfg.DATASET.get("SUBSAMPLE_CLASSES", "all"))[0]
        super().__init__(train_x=data, test=data)

    def class_folders(self, classnames) -> list[tuple[str, str]]:
        """``(folder name, wnid)`` pairs in label order: folders named by wnid, sorted."""
        folders = [f for f in listdir_nohidden(self.image_dir, sort=True) if f not in self.ignored]
        return [(f, f) for f in folders if os.path.isdir(os.path.join(self.image_dir, f))]


@DATASET_REGISTRY.register()
class ImageNetV2(ImageNetVariant):
    """Matched-frequency test set; folder ``i`` holds class ``i`` of ``classnames.txt``."""

    dataset_dir = "imagenetv2"
    image_subdir = "imagenetv2-matched-frequency-format-val"

    def class_folders(self, classnames):
        pairs = []
        for label, wnid in enumerate(classnames):
            folder = os.path.join(self.image_dir, str(label))
            if not os.path.isdir(folder):
                raise FileNotFoundError(
                    f"ImageNetV2: class folder {folder} not found "
                    f"(classnames.txt lists {len(classnames)} classes, folders 0-{len(classnames) - 1})"
                )
            pairs.append((str(label), wnid))
        return pairs


@DATASET_REGISTRY.register()
class ImageNetSketch(ImageNetVariant):
    dataset_dir = "imagenet-sketch"
    image_subdir = "images"


@DATASET_REGISTRY.register()
class ImageNetA(ImageNetVariant):
    """200 classes; labels index the variant's own sorted folders, not ImageNet's 1000."""

    dataset_dir = "imagenet-adversarial"
    image_subdir = "imagenet-a"
    ignored = ("README.txt",)


@DATASET_REGISTRY.register()
class ImageNetR(ImageNetVariant):
    """200 classes; labels index the variant's own sorted folders, not ImageNet's 1000."""

    dataset_dir = "imagenet-rendition"
    image_subdir = "imagenet-r"
    ignored = ("README.txt",)
