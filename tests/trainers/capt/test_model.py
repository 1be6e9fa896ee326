"""The CAPT network on a tiny random CLIP: exact start at stage 1, what trains, frozen statistics."""

import pytest
import torch

from clip import build_model
from clip.testing import make_random_state_dict
from trainers.capt.model import CaptNetwork, CaptSettings
from trainers.capt.sam import BankRetriever
from trainers.common.base import freeze_all_but
from trainers.promptkd import PromptKDStudent

TEACHER_DIM = 96


def tiny_student():
    torch.manual_seed(0)
    clip_model = build_model(make_random_state_dict("vit", seed=3, embed_dim=64, image_resolution=32,
                                                    vision_layers=3, vision_width=64, patch_size=8))
    student = PromptKDStudent(clip_model, n_ctx_vision=2, depth_vision=2, teacher_dim=TEACHER_DIM)
    bn = student.VPT_image_trans.conv1[1]
    bn.running_mean.normal_()
    bn.running_var.uniform_(0.5, 2.0)
    return student


def network(dynamic=False, ffn_init="last_block"):
    student = tiny_student()
    text = torch.nn.functional.normalize(torch.randn(7, TEACHER_DIM), dim=-1)  # 4 base + 3 new classes
    net = CaptNetwork(student, text, num_base=4, logit_scale=student.logit_scale.exp().detach(),
                      adapter_layers=[0, 1, 2], settings=CaptSettings(topk=2, n_rep=1, dynamic_alpha=dynamic),
                      ffn_init=ffn_init)
    net.guidance["base"] = torch.nn.functional.normalize(torch.randn(2, 4, 4, TEACHER_DIM), dim=-1)
    net.guidance["new"] = torch.nn.functional.normalize(torch.randn(2, 3, 3, TEACHER_DIM), dim=-1)
    net.bank_n = torch.rand(4, 4).fill_diagonal_(0)
    bank_images = torch.randn(12, 3, 32, 32)
    with torch.no_grad():
        feats = student(bank_images)
    bank = {"features": feats, "labels": torch.arange(12) % 4, "classnames": list("abcd"),
            "paths": [f"img{i}" for i in range(12)], "cells": {0: {1: [4, 8]}, 1: {0: [1]}, 2: {3: [3]}}}
    net.retriever = BankRetriever(bank)
    net.load_images = lambda idx, train: bank_images[idx]
    return net


def stage1_logits(net, images, which):
    with torch.no_grad():
        text = net.text_features[:4] if which == "base" else net.text_features[4:]
        return net.logit_scale * net.student(images) @ text.t()


@pytest.mark.parametrize("dynamic", [False, True])
def test_zero_initialised_stage2_equals_stage1_exactly(dynamic):
    net = network(dynamic).eval()
    images = torch.randn(5, 3, 32, 32)
    with torch.no_grad():
        out = net(images, "base", use_bank=True, exclude=[None, 1, None, None, None])
        new = net(images, "new", use_bank=False)
    assert out.rep_index is not None and (out.rep_index >= 0).any()
    assert torch.equal(out.logits, stage1_logits(net, images, "base"))
    assert torch.equal(out.stage1_logits, stage1_logits(net, images, "base"))
    assert torch.equal(new.logits, stage1_logits(net, images, "new"))


def test_only_adapters_and_mgde_train_and_batch_norm_stays_frozen():
    net = network()
    params = freeze_all_but(net, net.trainable_params())
    names = {n for n, p in net.named_parameters() if p.requires_grad}
    assert names and all(n.startswith(("adapters.", "mgde.")) for n in names)
    assert {id(p) for p in params} == {id(p) for p in net.trainable_params()}
    bn = net.student.VPT_image_trans.conv1[1]
    stats = (bn.running_mean.clone(), bn.running_var.clone(), bn.num_batches_tracked.clone())
    frozen = {n: p.detach().clone() for n, p in net.student.named_parameters()}
    opt = torch.optim.SGD(params, lr=0.5)
    net.train()
    assert not net.student.training and not bn.training
    for _ in range(3):
        out = net(torch.randn(4, 3, 32, 32), "base", use_bank=True, train_views=True)
        loss = torch.nn.functional.cross_entropy(out.logits, torch.tensor([0, 1, 2, 3]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert torch.equal(bn.running_mean, stats[0]) and torch.equal(bn.running_var, stats[1])
    assert torch.equal(bn.num_batches_tracked, stats[2])
    assert all(torch.equal(p, frozen[n]) for n, p in net.student.named_parameters())
    assert any(a.local.weight.abs().sum() > 0 for a in net.adapters.values())
    images = torch.randn(3, 3, 32, 32)
    net.eval()
    with torch.no_grad():
        assert not torch.equal(net(images, "base", use_bank=False).logits, stage1_logits(net, images, "base"))


def test_sample_expert_init_depends_on_widths():
    net = network()
    # student ViT width 64 vs teacher space 96: the last block's FFN cannot seed a 96-d expert
    assert not net.mgde.samples[0].initialised_from_block


def test_eval_reuses_representative_features_within_an_evaluation():
    net = network().eval()
    for adapter in net.adapters.values():
        torch.nn.init.normal_(adapter.local.weight, std=0.1)
    calls = []
    load = net.load_images
    net.load_images = lambda idx, train: calls.append(list(idx)) or load(idx, train)
    images = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        first = net(images, "base").logits
        second = net(images, "base").logits
    assert torch.allclose(first, second, atol=1e-6) and len(calls) == 1
    net.train()
    net.eval()
    with torch.no_grad():
        net(images, "base")
    assert len(calls) == 2  # a new evaluation starts with an empty cache
