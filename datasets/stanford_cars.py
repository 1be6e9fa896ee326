"""Stanford Cars (196 make / model / year classes); split paths are relative to the dataset folder."""

import os

from dassl.data.datasets import DATASET_REGISTRY

from .base import CoOpDataset
from .matfile import load_mat, mat_field, scalar
from .splits import make_items, split_trainval


def car_name(meta_name: str) -> str:
    """``Audi TTS Coupe 2012`` -> ``2012 Audi TTS Coupe``: the trailing year moves to the front."""
    words = meta_name.split(" ")
    return " ".join([words[-1], *words[:-1]])


@DATASET_REGISTRY.register()
class StanfordCars(CoOpDataset):
    dataset_dir = "stanford_cars"
    split_relative_to_dataset_dir = True

    def generate_split(self):
        meta = self.require(self.path("devkit", "cars_meta.mat"), "class list devkit/cars_meta.mat")
        classnames = [
            scalar(x) for x in mat_field(load_mat(meta, self.name), "class_names", meta).reshape(-1)
        ]
        train_annos = self.require(self.path("devkit", "cars_train_annos.mat"), "devkit/cars_train_annos.mat")
        test_annos = self.require(
            self.path("cars_test_annos_withlabels.mat"), "cars_test_annos_withlabels.mat"
        )
        trainval = self.read_annotations("cars_train", train_annos, classnames)
        test = self.read_annotations("cars_test", test_annos, classnames)
        train, val = split_trainval(trainval)
        return train, val, test

    def read_annotations(self, folder: str, path: str, classnames: list):
        """Each annotation has ``fname`` (image in ``folder``) and ``class`` (1-based index into the meta)."""
        annotations = mat_field(load_mat(path, self.name), "annotations", path).reshape(-1)
        records = []
        for i, anno in enumerate(annotations):
            try:
                fname, class_id = scalar(anno["fname"]), int(scalar(anno["class"]))
            except (KeyError, ValueError, IndexError) as err:
                raise ValueError(f"{path}: annotation {i} lacks a usable 'fname' / 'class' field") from err
            if not 1 <= class_id <= len(classnames):
                raise ValueError(
                    f"{path}: annotation {i} has class {class_id}; the meta file has {len(classnames)}"
                )
            label = class_id - 1
            records.append(
                (os.path.join(self.dataset_dir, folder, fname), label, car_name(classnames[label]))
            )
        return make_items(records, path, self.hint)
