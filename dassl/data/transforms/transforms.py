"""Image transforms built from ``cfg.INPUT``.

With the shipped CLIP configs (224, bicubic, the mean/std stored with the
weights, see :mod:`dassl.config.pixel_stats`) the test transform equals CLIP's own
preprocessing: resize the shorter side, centre crop, to tensor, normalise.
"""

import logging
import random

import torch
from torchvision.transforms import (
    CenterCrop,
    ColorJitter,
    Compose,
    GaussianBlur,
    Normalize,
    RandomApply,
    RandomCrop,
    RandomGrayscale,
    RandomHorizontalFlip,
    RandomResizedCrop,
    Resize,
    ToTensor,
)
from torchvision.transforms import functional as F
from torchvision.transforms.functional import InterpolationMode

from dassl.config.pixel_stats import pixel_stats

log = logging.getLogger(__name__)

__all__ = [
    "AVAI_CHOICES",
    "INTERPOLATION_MODES",
    "Cutout",
    "GaussianNoise",
    "InstanceNormalization",
    "Random2DTranslation",
    "build_transform",
]

AVAI_CHOICES = [
    "random_flip",
    "random_resized_crop",
    "normalize",
    "instance_norm",
    "random_crop",
    "random_translation",
    "center_crop",  # accepted for compatibility; test transforms always centre-crop
    "cutout",
    "imagenet_policy",
    "cifar10_policy",
    "svhn_policy",
    "randaugment",
    "randaugment_fixmatch",
    "randaugment2",
    "gaussian_noise",
    "colorjitter",
    "randomgrayscale",
    "gaussian_blur",
]

# Augmentation policies of the semi-supervised trainers; no CLIP config uses them.
_UNSUPPORTED = {"imagenet_policy", "cifar10_policy", "svhn_policy", "randaugment",
                "randaugment_fixmatch", "randaugment2"}

INTERPOLATION_MODES = {
    "bilinear": InterpolationMode.BILINEAR,
    "bicubic": InterpolationMode.BICUBIC,
    "nearest": InterpolationMode.NEAREST,
}


class Random2DTranslation:
    """With probability ``p`` enlarge by 1/8 and crop back at a random offset; else resize."""

    def __init__(self, height, width, p=0.5, interpolation=InterpolationMode.BILINEAR):
        self.height, self.width, self.p, self.interpolation = height, width, p, interpolation

    def __call__(self, img):
        if random.uniform(0, 1) > self.p:
            return F.resize(img, [self.height, self.width], interpolation=self.interpolation)
        big_w, big_h = round(self.width * 1.125), round(self.height * 1.125)
        img = F.resize(img, [big_h, big_w], interpolation=self.interpolation)
        left = round(random.uniform(0, big_w - self.width))
        top = round(random.uniform(0, big_h - self.height))
        return F.crop(img, top, left, self.height, self.width)


class InstanceNormalization:
    """Standardise each channel of a (C, H, W) tensor by its own mean and std."""

    def __init__(self, eps=1e-8):
        self.eps = eps

    def __call__(self, img):
        flat = img.reshape(img.shape[0], -1)
        mean = flat.mean(1).view(-1, 1, 1)
        std = flat.std(1).view(-1, 1, 1)
        return (img - mean) / (std + self.eps)


class Cutout:
    """Zero ``n_holes`` square patches of side ``length`` at random centres of a tensor image."""

    def __init__(self, n_holes=1, length=16):
        self.n_holes, self.length = n_holes, length

    def __call__(self, img):
        _, h, w = img.shape
        mask = torch.ones(h, w, dtype=img.dtype)
        half = self.length // 2
        for _ in range(self.n_holes):
            cy, cx = random.randrange(h), random.randrange(w)
            mask[max(cy - half, 0) : min(cy + half, h), max(cx - half, 0) : min(cx + half, w)] = 0
        return img * mask


class GaussianNoise:
    """With probability ``p`` add N(mean, std) noise to a tensor image."""

    def __init__(self, mean=0.0, std=0.15, p=0.5):
        self.mean, self.std, self.p = mean, std, p

    def __call__(self, img):
        if random.uniform(0, 1) > self.p:
            return img
        return img + torch.randn_like(img) * self.std + self.mean


def build_transform(cfg, is_train=True, choices=None):
    """Return the train or test transform described by ``cfg.INPUT``.

    ``choices`` overrides ``cfg.INPUT.TRANSFORMS``. Returns None when
    ``INPUT.NO_TRANSFORM`` is set.
    """
    if cfg.INPUT.NO_TRANSFORM:
        log.warning("Note: no transform is applied!")
        return None
    choices = list(cfg.INPUT.TRANSFORMS if choices is None else choices)
    for choice in choices:
        if choice not in AVAI_CHOICES:
            raise ValueError(f"Unknown transform '{choice}' in INPUT.TRANSFORMS; choose from {AVAI_CHOICES}")
    if cfg.INPUT.INTERPOLATION not in INTERPOLATION_MODES:
        raise ValueError(
            f"Unknown INPUT.INTERPOLATION '{cfg.INPUT.INTERPOLATION}'; "
            f"choose from {list(INTERPOLATION_MODES)}"
        )
    if is_train:
        return _build_train(cfg, choices)
    return _build_test(cfg, choices)


def _step(steps, message, transform):
    log.info(f"+ {message}")
    steps.append(transform)


def _normalize_step(steps, cfg):
    mean, std = pixel_stats(cfg)
    _step(steps, f"normalization (mean={mean}, std={std})", Normalize(mean=mean, std=std))


def _build_train(cfg, choices):
    log.info("Building transform_train")
    inp = cfg.INPUT
    size = tuple(inp.SIZE)
    interp = INTERPOLATION_MODES[inp.INTERPOLATION]
    unsupported = _UNSUPPORTED.intersection(choices)
    if unsupported:
        raise NotImplementedError(f"Transforms {sorted(unsupported)} are not implemented in this package")
    steps = []
    if "random_crop" not in choices and "random_resized_crop" not in choices:
        _step(steps, f"resize to {size[0]}x{size[1]}", Resize(size, interpolation=interp))
    if "random_translation" in choices:
        _step(steps, "random translation", Random2DTranslation(size[0], size[1], interpolation=interp))
    if "random_crop" in choices:
        pad = inp.CROP_PADDING
        _step(steps, f"random crop (padding = {pad})", RandomCrop(size, padding=pad))
    if "random_resized_crop" in choices:
        scale = tuple(inp.RRCROP_SCALE)
        _step(
            steps,
            f"random resized crop (size={size}, scale={scale})",
            RandomResizedCrop(size, scale=scale, interpolation=interp),
        )
    if "random_flip" in choices:
        _step(steps, "random flip", RandomHorizontalFlip())
    if "colorjitter" in choices:
        b, c, s, h = inp.COLORJITTER_B, inp.COLORJITTER_C, inp.COLORJITTER_S, inp.COLORJITTER_H
        _step(
            steps,
            f"color jitter (brightness={b}, contrast={c}, saturation={s}, hue={h})",
            ColorJitter(brightness=b, contrast=c, saturation=s, hue=h),
        )
    if "randomgrayscale" in choices:
        _step(steps, "random gray scale", RandomGrayscale(p=inp.RGS_P))
    if "gaussian_blur" in choices:
        _step(steps, f"gaussian blur (kernel={inp.GB_K})", RandomApply([GaussianBlur(inp.GB_K)], p=inp.GB_P))
    _step(steps, "to torch tensor of range [0, 1]", ToTensor())
    if "cutout" in choices:
        _step(
            steps,
            f"cutout (n_holes={inp.CUTOUT_N}, length={inp.CUTOUT_LEN})",
            Cutout(inp.CUTOUT_N, inp.CUTOUT_LEN),
        )
    if "normalize" in choices:
        _normalize_step(steps, cfg)
    if "gaussian_noise" in choices:
        _step(
            steps,
            f"gaussian noise (mean={inp.GN_MEAN}, std={inp.GN_STD})",
            GaussianNoise(inp.GN_MEAN, inp.GN_STD),
        )
    if "instance_norm" in choices:
        _step(steps, "instance normalization", InstanceNormalization())
    return Compose(steps)


def _build_test(cfg, choices):
    log.info("Building transform_test")
    inp = cfg.INPUT
    size = tuple(inp.SIZE)
    interp = INTERPOLATION_MODES[inp.INTERPOLATION]
    steps = []
    _step(steps, f"resize the smaller edge to {max(size)}", Resize(max(size), interpolation=interp))
    _step(steps, f"{size[0]}x{size[1]} center crop", CenterCrop(size))
    _step(steps, "to torch tensor of range [0, 1]", ToTensor())
    if "normalize" in choices:
        _normalize_step(steps, cfg)
    if "instance_norm" in choices:
        _step(steps, "instance normalization", InstanceNormalization())
    return Compose(steps)
