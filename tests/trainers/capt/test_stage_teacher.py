"""The stage-2 teacher CLIP is read once; its prompted copies equal a teacher loaded directly, and the
prompt checkpoint never reaches the tower that encodes SEM's texts."""

import torch

from trainers.capt.teacher import StageTeacher

CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat"]


def teacher_cfg(weights_dir, teacher_root):
    from dassl.config import extend_cfg, get_cfg_default

    cfg = extend_cfg(get_cfg_default())
    cfg.DATASET.NAME = "FashionMNIST"
    cfg.INPUT.SIZE = (32, 32)
    cfg.MODEL.CLIP_WEIGHTS_DIR = str(weights_dir)
    node = cfg.TRAINER.PROMPTKD
    node.TEACHER_NAME, node.TEACHER_ROOT, node.TEACHER_DEPTH = "ToyViT-L", str(teacher_root), 2
    return cfg


def write_teacher(root, weights_dir):
    from clip import load
    from trainers.common.vl_prompt import IVLPDesign, VLPromptModel

    clip_model, _ = load("ToyViT-L", weights_dir=str(weights_dir))
    torch.manual_seed(0)
    model = VLPromptModel(clip_model, CLASSES, IVLPDesign(4, 4, 2, 2, "a photo of a"))
    with torch.no_grad():  # a checkpoint whose text tower differs from the CLIP file
        model.text_encoder.ln_final.bias.add_(1.0)
    path = root / "FashionMNIST" / "VLPromptLearner" / "model-best.pth.tar"
    path.parent.mkdir(parents=True)
    torch.save({"state_dict": model.state_dict(), "epoch": 1}, path)


def test_clip_read_once_and_copies_match_a_direct_load(toy_weights_dir, tmp_path, monkeypatch):
    from trainers.common import backbone
    from trainers.common.teacher import build_teacher

    write_teacher(tmp_path, toy_weights_dir)
    cfg = teacher_cfg(toy_weights_dir, tmp_path)
    loads = []
    real = backbone.load_clip
    monkeypatch.setattr(backbone, "load_clip", lambda *a, **k: loads.append(k) or real(*a, **k))
    teacher = StageTeacher(cfg, "cpu")
    texts = ["a photo of a coat.", "a photo of a dress, not a coat."]
    plain_before = teacher(texts)
    every = teacher.frozen(CLASSES, "fp32")
    base = teacher.frozen(CLASSES[:3], "fp16")
    plain_after = teacher(texts)
    assert len(loads) == 1  # one read of the weights for the three uses
    assert torch.equal(plain_before, plain_after)  # the checkpoint's tower did not leak into SEM's
    monkeypatch.setattr(backbone, "load_clip", real)
    direct = build_teacher(cfg, CLASSES, "cpu", "fp32")
    assert torch.equal(every.text_features, direct.text_features)
    direct16 = build_teacher(cfg, CLASSES[:3], "cpu", "fp16")
    for (name, a), (_, b) in zip(base.model.named_parameters(), direct16.model.named_parameters()):
        assert a.dtype == b.dtype and torch.equal(a, b), name
