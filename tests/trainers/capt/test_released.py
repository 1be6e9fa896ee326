"""``CAPT.MODE released`` against hand-worked examples of what the released code does: the hard-negative
window, the projector's BatchNorm in train mode, and WEIGHT_FOR_NEW mixing parameters (not logits)."""

import copy
import random
from types import SimpleNamespace

import pytest
import torch

from clip import build_model
from clip.testing import make_random_state_dict
from trainers.capt.released import (
    ReleasedModel,
    hard_negative_classes,
    mix_parameters,
    symmetric_contrastive,
)
from trainers.common.base import freeze_all_but
from trainers.common.teacher import FrozenTeacher
from trainers.common.vl_prompt import IVLPDesign, VLPromptModel
from trainers.promptkd import PromptKDStudent

TEACHER_DIM = 48


# ------------------------------------------------------------------------------------ hard negatives
def test_negatives_are_the_topk_window_minus_own_and_batch_classes_without_replacement():
    # 8 classes, INFER_TOPK 4, batch labels [0, 1]
    ranking = [[0, 5, 1, 6, 2, 3, 4, 7],  # window {0,5,1,6} - own 0 - in-batch 1 -> [5, 6]
               [6, 7, 2, 1, 5, 0, 3, 4]]  # window {6,7,2,1} - own 1 - already drawn 6 -> [7, 2]
    out = hard_negative_classes(ranking, [0, 1], topk=4, num_classes=8, rng=random.Random(0))
    assert out == [[5, 6], [7, 2]]  # classes beyond the window (2, 3 for the first anchor) never enter


def test_own_class_outside_the_window_leaves_all_topk_candidates():
    out = hard_negative_classes([[4, 5, 6, 0, 1, 2, 3]], [0], topk=3, num_classes=7, rng=random.Random(0))
    assert out == [[4, 5, 6]]


def test_top_up_to_two_draws_free_classes_only_once():
    # two anchors of class 2 whose window is {2, 0}: the first keeps 0, the second keeps nothing
    ranking = [[2, 0, 1, 3, 4, 5], [2, 0, 1, 3, 4, 5]]
    first, second = hard_negative_classes(ranking, [2, 2], topk=2, num_classes=6, rng=random.Random(1))
    assert first[0] == 0 and len(first) == 2 and len(second) == 2
    drawn = first + second
    assert len(set(drawn)) == 4 and set(drawn) <= {0, 1, 3, 4, 5}
    # nothing left to draw: the top-up stops short instead of repeating a class
    assert hard_negative_classes([[0, 1, 2]], [0], topk=2, num_classes=2, rng=random.Random(0)) == [[1]]


def test_symmetric_contrastive_matches_hand_value():
    feats = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    text = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    logits = 2.0 * feats @ text.t()  # [[2, 1.2], [0, 1.6]]
    rows = -(torch.log_softmax(logits, 1)[0, 0] + torch.log_softmax(logits, 1)[1, 1]) / 2
    cols = -(torch.log_softmax(logits, 0)[0, 0] + torch.log_softmax(logits, 0)[1, 1]) / 2
    assert symmetric_contrastive(feats, text, 2.0).item() == pytest.approx(0.5 * (rows + cols).item())


# --------------------------------------------------------------------------------------- tiny model
def tiny_parts():
    torch.manual_seed(0)
    sizes = {"image_resolution": 32, "vision_layers": 2, "vision_width": 64, "patch_size": 8}
    student_clip = build_model(make_random_state_dict("vit", seed=3, embed_dim=32, **sizes))
    student = PromptKDStudent(student_clip, n_ctx_vision=2, depth_vision=2, teacher_dim=TEACHER_DIM)
    teacher_clip = build_model(make_random_state_dict("vit", seed=4, embed_dim=TEACHER_DIM, **sizes))
    teacher = FrozenTeacher(VLPromptModel(teacher_clip, ["cat", "dog", "car", "bus"],
                                          IVLPDesign(2, 2, 2, 2, "a photo of")))
    new_text = torch.nn.functional.normalize(torch.randn(3, TEACHER_DIM), dim=-1)
    run = SimpleNamespace(student=student, new_text_features=new_text,
                          logit_scale=student.logit_scale.exp().detach())
    return run, teacher


def released_model(weight_for_new):
    run, teacher = tiny_parts()
    run.student.requires_grad_(False).eval()  # as load_promptkd_run hands it over
    stage1 = copy.deepcopy(run.student)
    model = ReleasedModel(run, teacher, weight=0.2, weight_for_new=weight_for_new)
    params = freeze_all_but(model, model.trainable_params())
    return model, stage1, torch.optim.SGD(params, lr=0.5)


def train_step(model, optim, images, labels):
    model.train()
    loss = symmetric_contrastive(model.student(images), model.base_text()[labels], model.scale)
    optim.zero_grad()
    loss.backward()
    optim.step()


def test_projector_batchnorm_trains_in_train_mode():
    model, stage1, optim = released_model(0.0)
    bn = model.student.VPT_image_trans.conv1[1]
    before = {k: v.clone() for k, v in bn.state_dict().items()}
    model.train()
    assert bn.training and not model.stage1_projector.training and not model.student.image_encoder.training
    train_step(model, optim, torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3]))
    after = bn.state_dict()
    for key in ("running_mean", "running_var", "weight", "bias"):
        assert not torch.equal(after[key], before[key]), key
    assert int(after["num_batches_tracked"]) == int(before["num_batches_tracked"]) + 1
    # the stage-1 copy kept for new classes is untouched
    assert all(torch.equal(v, stage1.VPT_image_trans.state_dict()[k])
               for k, v in model.stage1_projector.state_dict().items())
    model.eval()
    assert not bn.training


@pytest.mark.parametrize("w", [0.0, 0.25])
def test_weight_for_new_mixes_prompts_and_keeps_the_stage1_projector(w):
    model, stage1, optim = released_model(w)
    train_step(model, optim, torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3]))
    trained = model.student.vision_prompts
    assert not torch.equal(trained.shallow, stage1.vision_prompts.shallow)  # stage 2 moved the prompts
    model.eval()
    with torch.no_grad():
        mixed = model.new_class_prompts()
        stage2_values = dict(trained.named_parameters())
        stage1_values = dict(stage1.vision_prompts.named_parameters())
        for name, p in mixed.named_parameters():
            expected = w * stage2_values[name] + (1 - w) * stage1_values[name]
            assert torch.allclose(p, expected, atol=1e-7), name
        # expected: the stage-1 student (its projector and BatchNorm statistics) with the mixed prompts
        reference = copy.deepcopy(stage1)
        reference.vision_prompts.load_state_dict(mixed.state_dict())
        images = torch.randn(3, 3, 32, 32)
        assert torch.allclose(model.new_class_features(images), reference(images), atol=1e-6)
    if w == 0:
        assert torch.equal(model.new_class_features(images), stage1(images))


def test_mix_parameters_is_a_frozen_weighted_copy():
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    mixed = mix_parameters(a, b, 0.75)
    assert torch.allclose(mixed.weight, 0.75 * b.weight + 0.25 * a.weight)
    assert torch.allclose(mixed.bias, 0.75 * b.bias + 0.25 * a.bias)
    assert not mixed.weight.requires_grad and mixed.weight is not a.weight
