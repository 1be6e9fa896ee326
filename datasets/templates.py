"""Text templates: the single prompt of each dataset and the ImageNet template ensembles.

Templates are ``str.format`` patterns with one ``{}`` slot; ``fill`` (from :mod:`clip.class_text`) inserts
the class name with underscores replaced by spaces. This module is the one table trainers read
(``get_templates(cfg.DATASET.NAME)``); dataset classes expose the same strings as class attributes
(``template``, ``kgcoop_template``, ``prograd_template``).
"""

from __future__ import annotations

from typing import NamedTuple

from clip.class_text import fill  # noqa: F401  (re-exported: the templates' one filling rule)


class DatasetTemplates(NamedTuple):
    zero_shot: str  # zero-shot CLIP (CoOp ``ZeroshotCLIP``, CaPT ``ZeroShotCLIP``) and CaPT's TCI
    kgcoop: str  # KgCoOp's frozen text anchors
    prograd: str  # ProGrad's zero-shot teacher


def _same(template: str) -> DatasetTemplates:
    return DatasetTemplates(template, template, template)


_PHOTO = "a photo of a {}."

DATASET_TEMPLATES: dict[str, DatasetTemplates] = {
    "OxfordPets": DatasetTemplates(
        "a photo of a {}, a type of pet.",
        "a photo of a {}, a type of pet.",
        "a type of pet, a photo of a {}.",
    ),
    "OxfordFlowers": DatasetTemplates(
        "a photo of a {}, a type of flower.",
        "a photo of a {}, a type of flower.",
        "a type of flower, a photo of a {}.",
    ),
    "FGVCAircraft": DatasetTemplates(
        "a photo of a {}, a type of aircraft.",
        "a photo of a {}, a type of aircraft.",
        "a type of aircraft, a photo of a {}.",
    ),
    "DescribableTextures": DatasetTemplates(
        "{} texture.", "a photo of a {}, a type of texture.", "a texture of {}."
    ),
    "EuroSAT": _same("a centered satellite photo of {}."),
    "StanfordCars": _same(_PHOTO),
    "Food101": DatasetTemplates(
        "a photo of {}, a type of food.", "a photo of {}, a type of food.", "a type of food, a photo of {}."
    ),
    "SUN397": _same(_PHOTO),
    "Caltech101": _same(_PHOTO),
    "UCF101": _same("a photo of a person doing {}."),
    "ImageNet": _same(_PHOTO),
    "ImageNetSketch": _same(_PHOTO),
    "ImageNetV2": _same(_PHOTO),
    "ImageNetA": _same(_PHOTO),
    "ImageNetR": _same(_PHOTO),
    "FashionMNIST": _same(_PHOTO),
    "FashionMNISTEdges": _same(_PHOTO),
    "FashionMNISTInverted": _same(_PHOTO),
}

# Template ensembles. They are read from open_clip on first access (importing open_clip takes seconds, and
# most runs never need them):
#   OPENAI_IMAGENET_TEMPLATES  the 80 prompts OpenAI used for ImageNet zero-shot evaluation, in their order
#                              (entry 40, 1-based, is "a photo of a {}.");
#   SIMPLE_IMAGENET_TEMPLATES  the 7-prompt subset used by CoOp's ``ZeroshotCLIP2``;
#   PROMPTSRC_TEMPLATES        PromptSRC's 60 prompts (its frozen text targets, hence also the PromptKD
#                              teacher's): the first 60 OpenAI prompts with "a photo of a {}." (0-based
#                              index 39) moved to the front.
PROMPTSRC_TEMPLATE_INDICES: tuple[int, ...] = (39, *range(39), *range(40, 60))
_ENSEMBLES = ("OPENAI_IMAGENET_TEMPLATES", "SIMPLE_IMAGENET_TEMPLATES", "PROMPTSRC_TEMPLATES")


def _load_ensembles() -> None:
    from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES as openai_fns
    from open_clip.zero_shot_metadata import SIMPLE_IMAGENET_TEMPLATES as simple_fns

    openai = tuple(fn("{}") for fn in openai_fns)
    globals().update(
        OPENAI_IMAGENET_TEMPLATES=openai,
        SIMPLE_IMAGENET_TEMPLATES=tuple(fn("{}") for fn in simple_fns),
        PROMPTSRC_TEMPLATES=tuple(openai[i] for i in PROMPTSRC_TEMPLATE_INDICES),
    )


def __getattr__(name: str):
    if name in _ENSEMBLES:
        _load_ensembles()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get_templates(dataset_name: str) -> DatasetTemplates:
    """The single templates of ``DATASET.NAME``; unknown names raise with the list of known ones."""
    try:
        return DATASET_TEMPLATES[dataset_name]
    except KeyError:
        raise KeyError(
            f"No text template for dataset {dataset_name!r}; known: {sorted(DATASET_TEMPLATES)}"
        ) from None


class TemplateMixin:
    """Gives a dataset class the three template attributes of its table row (looked up by class name)."""

    template: str = _PHOTO
    kgcoop_template: str = _PHOTO
    prograd_template: str = _PHOTO

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        row = DATASET_TEMPLATES.get(cls.__name__)
        if row is not None:
            cls.template, cls.kgcoop_template, cls.prograd_template = row
