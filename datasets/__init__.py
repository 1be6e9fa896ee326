"""Datasets of the CoOp benchmark family, registered in Dassl's ``DATASET_REGISTRY`` on import.

Importing this package also registers the ``DATASET.SUBSAMPLE_CLASSES`` config key. Shared machinery:
:mod:`datasets.splits` (split files, few-shot caches, base/new), :mod:`datasets.wiring` (which split goes
where), :mod:`datasets.base` (:class:`CoOpDataset`), :mod:`datasets.templates`, :mod:`datasets.pool`.
"""

from . import config  # noqa: F401  (registers the config hook)
from .base import CoOpDataset
from .caltech101 import Caltech101
from .dtd import DescribableTextures
from .eurosat import EuroSAT
from .fashion_mnist import FashionMNIST, FashionMNISTEdges, FashionMNISTInverted
from .fgvc_aircraft import FGVCAircraft
from .food101 import Food101
from .imagenet import ImageNet
from .imagenet_variants import ImageNetA, ImageNetR, ImageNetSketch, ImageNetV2, ImageNetVariant
from .oxford_flowers import OxfordFlowers
from .oxford_pets import OxfordPets
from .stanford_cars import StanfordCars
from .sun397 import SUN397
from .templates import get_templates
from .ucf101 import UCF101
from .wiring import WIRINGS, wire_splits

# The 11 base-to-new benchmarks, in the order papers report them.
BASE_TO_NEW_DATASETS = (
    "ImageNet",
    "Caltech101",
    "OxfordPets",
    "StanfordCars",
    "OxfordFlowers",
    "Food101",
    "FGVCAircraft",
    "SUN397",
    "DescribableTextures",
    "EuroSAT",
    "UCF101",
)
IMAGENET_VARIANTS = ("ImageNetV2", "ImageNetSketch", "ImageNetA", "ImageNetR")

__all__ = [
    "BASE_TO_NEW_DATASETS",
    "IMAGENET_VARIANTS",
    "WIRINGS",
    "SUN397",
    "UCF101",
    "Caltech101",
    "CoOpDataset",
    "DescribableTextures",
    "EuroSAT",
    "FGVCAircraft",
    "FashionMNIST",
    "FashionMNISTEdges",
    "FashionMNISTInverted",
    "Food101",
    "ImageNet",
    "ImageNetA",
    "ImageNetR",
    "ImageNetSketch",
    "ImageNetV2",
    "ImageNetVariant",
    "OxfordFlowers",
    "OxfordPets",
    "StanfordCars",
    "get_templates",
    "wire_splits",
]
