"""configs/datasets/*.yaml and the DATASET.SUBSAMPLE_CLASSES config key."""

from pathlib import Path

import pytest
from dataset_trees import make_cfg

from dassl.config import extend_cfg, get_cfg_default
from dassl.data.datasets import DATASET_REGISTRY

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs" / "datasets"
EXPECTED = {
    "caltech101.yaml": "Caltech101",
    "oxford_pets.yaml": "OxfordPets",
    "stanford_cars.yaml": "StanfordCars",
    "oxford_flowers.yaml": "OxfordFlowers",
    "food101.yaml": "Food101",
    "fgvc_aircraft.yaml": "FGVCAircraft",
    "sun397.yaml": "SUN397",
    "dtd.yaml": "DescribableTextures",
    "eurosat.yaml": "EuroSAT",
    "ucf101.yaml": "UCF101",
    "imagenet.yaml": "ImageNet",
    "imagenetv2.yaml": "ImageNetV2",
    "imagenet_sketch.yaml": "ImageNetSketch",
    "imagenet_a.yaml": "ImageNetA",
    "imagenet_r.yaml": "ImageNetR",
    "fashion_mnist.yaml": "FashionMNIST",
    "fashion_mnist_edges.yaml": "FashionMNISTEdges",
    "fashion_mnist_inverted.yaml": "FashionMNISTInverted",
}


def test_every_dataset_has_its_upstream_config_file():
    assert {p.name for p in CONFIG_DIR.glob("*.yaml")} == set(EXPECTED)


@pytest.mark.parametrize("filename", sorted(EXPECTED))
def test_config_loads_and_names_a_registered_dataset(filename):
    import datasets  # noqa: F401

    cfg = get_cfg_default()
    extend_cfg(cfg)
    cfg.merge_from_file(str(CONFIG_DIR / filename))
    assert cfg.DATASET.NAME == EXPECTED[filename]
    assert cfg.DATASET.NAME in DATASET_REGISTRY.registered_names()


def test_subsample_key_is_registered_with_default_all():
    cfg = make_cfg("", "Caltech101")
    assert get_cfg_default().DATASET.get("SUBSAMPLE_CLASSES") in (None, "all")
    fresh = get_cfg_default()
    extend_cfg(fresh)
    assert fresh.DATASET.SUBSAMPLE_CLASSES == "all"
    cfg.merge_from_list(["DATASET.SUBSAMPLE_CLASSES", "base"])
    assert cfg.DATASET.SUBSAMPLE_CLASSES == "base"
