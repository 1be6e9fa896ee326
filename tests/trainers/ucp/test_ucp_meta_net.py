"""Meta-net shapes, parameter counts and the injection of its offsets into the context tokens."""

import math

import pytest
import torch

from trainers.common.class_offsets import ClassOffsetSlot, add_class_offsets
from trainers.ucp.meta_net import AffineMap, MetaNetMLP, build_meta_net
from trainers.ucp.plugin import ClassConditioner, attach


@pytest.mark.parametrize("hidden, expected", [(32, 33_312), (64, 66_112)])
def test_mlp_parameter_count_at_width_512(hidden, expected):
    net = build_meta_net("mlp", 512, 512, hidden_dim=hidden, dropout=0.1)
    assert sum(p.numel() for p in net.parameters()) == expected
    shapes = {name: tuple(p.shape) for name, p in net.named_parameters()}
    assert shapes == {"down.weight": (512, hidden), "down.bias": (hidden,),
                      "up.weight": (hidden, 512), "up.bias": (512,)}


def test_affine_map_is_x_at_w_plus_b_with_uniform_init():
    torch.manual_seed(0)
    layer = AffineMap(8, 4)
    bound = 1 / math.sqrt(4)
    assert layer.weight.abs().max() <= bound and layer.bias.abs().max() <= bound
    x = torch.randn(3, 8)
    assert torch.allclose(layer(x), x @ layer.weight + layer.bias)


def test_mlp_forward_and_dropout_only_in_training():
    torch.manual_seed(0)
    net = MetaNetMLP(6, 5, 4, dropout=0.5)
    x = torch.randn(3, 6)
    net.eval()
    h = torch.nn.functional.leaky_relu(x @ net.down.weight + net.down.bias, 0.01)
    assert torch.allclose(net(x), h @ net.up.weight + net.up.bias)
    assert torch.equal(net(x), net(x))
    net.train()
    outs = {tuple(net(x).flatten().tolist()) for _ in range(5)}
    assert len(outs) > 1


def test_other_modules_and_bad_names():
    assert isinstance(build_meta_net("linear", 8, 8), AffineMap)
    attn = build_meta_net("attn", 8, 8)
    assert attn(torch.randn(5, 8)).shape == (5, 8)
    with pytest.raises(ValueError, match="TRAINER.UCP.MODULE"):
        build_meta_net("gru", 8, 8)


class _Learner(ClassOffsetSlot, torch.nn.Module):
    def __init__(self, n_ctx, width):
        super().__init__()
        self.ctx = torch.nn.Parameter(torch.randn(n_ctx, width))


def _learner(n_ctx=4, width=6):
    return _Learner(n_ctx, width)


def test_offset_is_added_to_every_context_token_of_its_class_only():
    torch.manual_seed(0)
    tci = torch.randn(3, 5)
    conditioner = ClassConditioner(tci, out_dim=6, hidden_dim=4, scale=0.5).eval()
    learner = attach(_learner(), conditioner)
    ctx = learner.offset_context(learner.ctx, 3)
    m = conditioner.unified_transfer(tci * 0.5)
    assert ctx.shape == (3, 4, 6)
    for c in range(3):
        for t in range(4):
            assert torch.allclose(ctx[c, t] - learner.ctx[t], m[c], atol=1e-6)
    # the plain learner gets the shared context unchanged
    plain = _learner()
    assert torch.equal(plain.offset_context(plain.ctx, 3), plain.ctx.expand(3, -1, -1))


def test_condition_is_not_saved_unless_persistent_and_gate_is_learnable():
    conditioner = ClassConditioner(torch.randn(3, 5), out_dim=6)
    assert not any("class_tokens" in k for k in conditioner.state_dict())
    frn = ClassConditioner(torch.randn(1, 5), out_dim=6, persistent=True)
    assert "condition" in frn.state_dict()
    assert add_class_offsets(torch.zeros(2, 6), frn(), 4).shape == (4, 2, 6)
    gated = ClassConditioner(torch.randn(3, 5), out_dim=6, scale=0.0)
    assert isinstance(gated.scale, torch.nn.Parameter) and gated.scale.item() == 0.0
    add_class_offsets(torch.zeros(2, 6), gated(), 3).sum().backward()
    assert gated.scale.grad is not None
    with pytest.raises(ValueError, match="offsets for 4 classes"):
        add_class_offsets(torch.zeros(2, 6), conditioner(), 4)
    with pytest.raises(ValueError, match="already carries"):
        attach(attach(_learner(), conditioner), conditioner)
