"""The template table: per-dataset single prompts and the ImageNet ensembles."""

import open_clip.zero_shot_metadata as metadata
import pytest

from dassl.data.datasets import DATASET_REGISTRY
from datasets import templates
from datasets.caltech101 import Caltech101
from datasets.dtd import DescribableTextures
from datasets.imagenet_variants import ImageNetA
from datasets.oxford_pets import OxfordPets


def test_openai_80_templates_match_open_clip():
    assert len(templates.OPENAI_IMAGENET_TEMPLATES) == 80
    assert list(templates.OPENAI_IMAGENET_TEMPLATES) == [f("{}") for f in metadata.OPENAI_IMAGENET_TEMPLATES]
    assert templates.OPENAI_IMAGENET_TEMPLATES[:2] == ("a bad photo of a {}.", "a photo of many {}.")
    assert templates.OPENAI_IMAGENET_TEMPLATES[39] == "a photo of a {}."


def test_simple_7_templates():
    assert templates.SIMPLE_IMAGENET_TEMPLATES == (
        "itap of a {}.",
        "a bad photo of the {}.",
        "a origami {}.",
        "a photo of the large {}.",
        "a {} in a video game.",
        "art of the {}.",
        "a photo of the small {}.",
    )


def test_promptsrc_60_templates():
    t = templates.PROMPTSRC_TEMPLATES
    openai = templates.OPENAI_IMAGENET_TEMPLATES
    assert len(t) == 60 and len(set(t)) == 60
    assert t[0] == "a photo of a {}."
    assert t[1:40] == openai[:39] and t[40:] == openai[40:60]
    assert "a tattoo of the {}." not in t  # entry 61 of the 80 list is left out


def test_table_covers_every_registered_dataset():
    import datasets  # noqa: F401

    # Only the project's datasets: engine tests register tiny datasets of their own.
    ours = {n for n in DATASET_REGISTRY.registered_names()
            if DATASET_REGISTRY.get(n).__module__.startswith("datasets.")}
    assert len(ours) >= 18 and {"FashionMNIST", "FashionMNISTEdges", "FashionMNISTInverted"} <= ours
    assert ours <= set(templates.DATASET_TEMPLATES)


@pytest.mark.parametrize(
    "name, zero_shot, kgcoop, prograd",
    [
        ("OxfordPets", "a photo of a {}, a type of pet.", None, "a type of pet, a photo of a {}."),
        ("DescribableTextures", "{} texture.", "a photo of a {}, a type of texture.", "a texture of {}."),
        ("EuroSAT", "a centered satellite photo of {}.", None, None),
        ("Food101", "a photo of {}, a type of food.", None, "a type of food, a photo of {}."),
        ("UCF101", "a photo of a person doing {}.", None, None),
        ("ImageNetR", "a photo of a {}.", None, None),
    ],
)
def test_single_templates(name, zero_shot, kgcoop, prograd):
    row = templates.get_templates(name)
    assert row == (zero_shot, kgcoop or zero_shot, prograd or zero_shot)


def test_dataset_classes_expose_their_row():
    assert OxfordPets.template == "a photo of a {}, a type of pet."
    assert OxfordPets.prograd_template == "a type of pet, a photo of a {}."
    assert DescribableTextures.kgcoop_template == "a photo of a {}, a type of texture."
    assert Caltech101.template == ImageNetA.template == "a photo of a {}."


def test_fill_and_unknown_names():
    assert templates.fill("a photo of a {}, a type of pet.", "american_bulldog") == (
        "a photo of a american bulldog, a type of pet."
    )
    with pytest.raises(KeyError, match="No text template for dataset 'Nope'"):
        templates.get_templates("Nope")
