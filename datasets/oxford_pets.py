"""Oxford-IIIT Pets (37 cat and dog breeds)."""

import os

from dassl.data.datasets import DATASET_REGISTRY

from .base import CoOpDataset
from .splits import make_items, split_trainval


def breed_of(image_name: str) -> str:
    """``American_Bulldog_12`` -> ``american_bulldog``: the image name without its number, lower case."""
    return image_name.rsplit("_", 1)[0].lower()


@DATASET_REGISTRY.register()
class OxfordPets(CoOpDataset):
    dataset_dir = "oxford_pets"
    image_subdir = "images"

    def read_list(self, filename: str):
        """Parse an annotation list: lines ``<image> <class id> <species> <breed id>``."""
        path = self.require(self.path("annotations", filename), f"annotation list annotations/{filename}")
        records = []
        with open(path) as f:
            for lineno, line in enumerate(f, 1):
                fields = line.split()
                if not fields or fields[0].startswith("#"):
                    continue
                if len(fields) < 2:
                    raise ValueError(
                        f"{path}, line {lineno}: expected '<image> <class id> ...', got {line!r}"
                    )
                image, class_id = fields[0], int(fields[1])
                records.append((os.path.join(self.image_dir, image + ".jpg"), class_id - 1, breed_of(image)))
        return make_items(records, path, self.hint)

    def generate_split(self):
        trainval = self.read_list("trainval.txt")
        test = self.read_list("test.txt")
        train, val = split_trainval(trainval)
        return train, val, test
