"""Fashion-MNIST in the CoOp layout: the offline toy datasets (10 classes, 5 base / 5 new).

``FashionMNIST`` holds the original images. ``FashionMNISTEdges`` (edge maps) and ``FashionMNISTInverted``
(inverted grey levels) hold the same split with shifted images, which the toy CLIPs never saw, so prompt
tuning has something to learn there. All folders are produced by the toy-world preparation, not downloaded by
hand; they go through exactly the same code path as the benchmarks (split file, few-shot cache, subsampling,
wiring).
"""

from dassl.data.datasets import DATASET_REGISTRY

from .base import CoOpDataset, docs_hint

# Label order of the original dataset, written as plain words for prompts.
CLASSNAMES = (
    "t-shirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
)
PREPARE_COMMAND = "python -m tools.toy_world.build"


@DATASET_REGISTRY.register()
class FashionMNIST(CoOpDataset):
    dataset_dir = "fashion_mnist"
    image_subdir = "images"

    @property
    def hint(self) -> str:
        return f"Run `{PREPARE_COMMAND}` to prepare it. " + docs_hint(self.docs_section())

    def load_splits(self):
        train, val, test = super().load_splits()
        for part, items in (("train", train), ("val", val), ("test", test)):
            for item in items:
                if not 0 <= item.label < len(CLASSNAMES) or item.classname != CLASSNAMES[item.label]:
                    raise ValueError(
                        f"{self.split_path}: {part} entry {item.impath} has label {item.label} / class "
                        f"{item.classname!r}; labels 0-9 must be named {list(CLASSNAMES)}. Rebuild it with "
                        f"`{PREPARE_COMMAND}`."
                    )
        return train, val, test


@DATASET_REGISTRY.register()
class FashionMNISTEdges(FashionMNIST):
    """The same split and classes as ``FashionMNIST``; every image is its edge map (a sketch-like domain)."""

    dataset_dir = "fashion_mnist_edges"


@DATASET_REGISTRY.register()
class FashionMNISTInverted(FashionMNIST):
    """The same split and classes as ``FashionMNIST``; every image is ``255 - pixel``."""

    dataset_dir = "fashion_mnist_inverted"
