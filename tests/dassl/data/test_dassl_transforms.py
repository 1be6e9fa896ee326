"""Config-built transforms (CLIP preprocessing equivalence, errors, log lines)."""

import pytest
import torch
from PIL import Image
from torchvision.transforms import functional as F
from torchvision.transforms.functional import InterpolationMode

from dassl.config import get_cfg_default
from dassl.data.transforms import INTERPOLATION_MODES, build_transform
from dassl.data.transforms.transforms import Cutout, InstanceNormalization

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def test_unset_statistics_without_a_backbone_are_dassls_imagenet_ones(capsys):
    cfg = get_cfg_default()
    cfg.INPUT.TRANSFORMS = ("normalize",)
    assert cfg.INPUT.PIXEL_MEAN == [] and cfg.INPUT.PIXEL_STD == []
    for is_train in (True, False):
        normalize = build_transform(cfg, is_train=is_train).transforms[-1]
        assert (normalize.mean, normalize.std) == ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    assert "normalization (mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])" in capsys.readouterr().out


def clip_cfg():
    cfg = get_cfg_default()
    cfg.INPUT.INTERPOLATION = "bicubic"
    cfg.INPUT.PIXEL_MEAN = CLIP_MEAN
    cfg.INPUT.PIXEL_STD = CLIP_STD
    cfg.INPUT.TRANSFORMS = ("random_resized_crop", "random_flip", "normalize")
    return cfg


def test_test_transform_equals_clip_preprocessing():
    img = Image.fromarray((torch.rand(300, 260, 3) * 255).byte().numpy())
    out = build_transform(clip_cfg(), is_train=False)(img)
    ref = F.resize(img, 224, interpolation=InterpolationMode.BICUBIC)
    ref = F.normalize(F.to_tensor(F.center_crop(ref, [224, 224])), CLIP_MEAN, CLIP_STD)
    assert out.shape == (3, 224, 224) and torch.allclose(out, ref)


def test_train_transform_steps_and_output(capsys):
    tfm = build_transform(clip_cfg(), is_train=True)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Building transform_train"
    assert [line.split(" (")[0] for line in lines[1:]] == [
        "+ random resized crop", "+ random flip", "+ to torch tensor of range [0, 1]", "+ normalization"]
    img = Image.new("RGB", (50, 40), (255, 0, 0))
    assert tfm(img).shape == (3, 224, 224)


def test_resize_when_no_crop_and_no_transform():
    cfg = get_cfg_default()
    cfg.INPUT.SIZE = (16, 16)
    assert build_transform(cfg)(Image.new("RGB", (40, 30))).shape == (3, 16, 16)
    cfg.INPUT.NO_TRANSFORM = True
    assert build_transform(cfg) is None


def test_unknown_choices_raise():
    cfg = get_cfg_default()
    with pytest.raises(ValueError, match="random_rotate"):
        build_transform(cfg, choices=["random_rotate"])
    cfg.INPUT.INTERPOLATION = "lanczos"
    with pytest.raises(ValueError, match="lanczos"):
        build_transform(cfg)
    with pytest.raises(NotImplementedError):
        build_transform(get_cfg_default(), choices=["randaugment"])


def test_interpolation_names():
    assert INTERPOLATION_MODES["bicubic"] == InterpolationMode.BICUBIC


def test_small_ops():
    img = torch.ones(3, 10, 10)
    assert (Cutout(1, 4)(img) == 0).sum() > 0
    x = InstanceNormalization()(torch.rand(3, 5, 5))
    assert torch.allclose(x.reshape(3, -1).mean(1), torch.zeros(3), atol=1e-5)
