"""Prompt and adapter extension points: absent or neutral ones give plain CLIP bit for bit; deep prompts
land exactly on the documented blocks and positions; adapters see the documented inputs."""

import pytest
import torch
from torch import nn

import clip
from clip.layout import TokenLayout, grid_to_tokens, replace_tokens, tokens_to_grid
from clip.model import build_model
from clip.prompts import CoupledVisionPrompts, TextDeepPrompts, VisionPromptLearner


class ZeroAdapter(nn.Module):
    """Returns zero residuals on both hooks (what a zero-initialised adapter does)."""

    def forward(self, tokens, layout):
        return torch.zeros_like(tokens)

    def mlp_residual(self, hidden, layout):
        return torch.zeros_like(hidden)


class RecordingAdapter(nn.Module):
    def __init__(self, residual=None):
        super().__init__()
        self.seen, self.residual = {}, residual

    def forward(self, tokens, layout):
        self.seen["tokens"], self.seen["layout"] = tokens, layout
        return None if self.residual is None else self.residual.expand_as(tokens)

    def mlp_residual(self, hidden, layout):
        self.seen["hidden"] = hidden
        return None


class DepthwiseGridAdapter(nn.Module):
    """A depthwise 3x3 convolution over the patch grid only (the Diff-Manner Adapter's local branch)."""

    def __init__(self, width):
        super().__init__()
        self.conv = nn.Conv2d(width, width, 3, padding=1, groups=width, bias=False)
        nn.init.zeros_(self.conv.weight)

    def forward(self, tokens, layout):
        return grid_to_tokens(self.conv(tokens_to_grid(tokens, layout)), layout)


def _images(model, batch=2, seed=0):
    size = model.visual.input_resolution
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _record_inputs(blocks):
    """Capture the input and output of every block."""
    inputs, outputs, handles = {}, {}, []
    for i, block in enumerate(blocks):
        handles.append(block.register_forward_pre_hook(lambda m, args, i=i: inputs.__setitem__(i, args[0])))
        handles.append(block.register_forward_hook(lambda m, args, out, i=i: outputs.__setitem__(i, out)))
    return inputs, outputs, handles


def test_absent_and_neutral_extensions_are_plain_clip(vit_model):
    images, ids = _images(vit_model), clip.tokenize(["a photo of a dog", "a cat"])
    with torch.no_grad():
        plain_image, plain_text = vit_model.encode_image(images), vit_model.encode_text(ids)
        variants = [
            vit_model.encode_image(images, prompts=VisionPromptLearner(4, 64, depth=0)),
            vit_model.encode_image(images, prompts=VisionPromptLearner(4, 64, 0, placement="after_cls")),
            vit_model.encode_image(images, adapters={0: ZeroAdapter(), 1: ZeroAdapter()}),
            vit_model.encode_image(images, adapters=nn.ModuleDict({"1": ZeroAdapter()})),
            vit_model.encode_image(images, adapters={0: RecordingAdapter()}),
            vit_model.encode_image(images, adapters={0: DepthwiseGridAdapter(64)}),
            vit_model.encode_image(images, adapters={}),
        ]
        text_variants = [
            vit_model.encode_text(ids, prompts=TextDeepPrompts(4, 64, depth=0)),
            vit_model.encode_text(ids, prompts=TextDeepPrompts(4, 64, depth=1)),
        ]
    for out in variants:
        assert torch.equal(out, plain_image)
    for out in text_variants:
        assert torch.equal(out, plain_text)


def test_vision_deep_prompts_replace_last_tokens_at_blocks_1_to_8(deep_model):
    prompts = VisionPromptLearner(4, 64, depth=9)
    with torch.no_grad():
        for p in prompts.parameters():
            p.normal_()
    inputs, outputs, handles = _record_inputs(deep_model.visual.transformer.resblocks)
    try:
        with torch.no_grad():
            deep_model.encode_image(_images(deep_model), prompts=prompts)
    finally:
        for handle in handles:
            handle.remove()
    grid = (deep_model.visual.input_resolution // 8) ** 2
    assert inputs[0].shape[1] == 1 + grid + 4
    expected_first = deep_model.visual.ln_pre(torch.cat([torch.zeros(grid + 1, 64), prompts.shallow]))[-4:]
    assert torch.allclose(inputs[0][0, -4:], expected_first, atol=1e-6)
    for i in range(1, 12):
        if 1 <= i <= 8:
            assert torch.equal(inputs[i][:, -4:], prompts.deep[i - 1].expand(2, -1, -1)), i
            assert torch.equal(inputs[i][:, :-4], outputs[i - 1][:, :-4]), i
        else:
            assert torch.equal(inputs[i], outputs[i - 1]), i


def test_text_deep_prompts_replace_positions_after_start_at_blocks_1_to_8(deep_model):
    prompts = TextDeepPrompts(4, 64, depth=9)
    ids = clip.tokenize(["X X X X dog.", "X X X X cat."])
    inputs, outputs, handles = _record_inputs(deep_model.transformer.resblocks)
    try:
        with torch.no_grad():
            deep_model.encode_text(ids, prompts=prompts)
    finally:
        for handle in handles:
            handle.remove()
    for i in range(1, 12):
        if 1 <= i <= 8:
            assert torch.equal(inputs[i][:, 1:5], prompts.deep[i - 1].expand(2, -1, -1)), i
            assert torch.equal(inputs[i][:, :1], outputs[i - 1][:, :1]), i
            assert torch.equal(inputs[i][:, 5:], outputs[i - 1][:, 5:]), i
        else:
            assert torch.equal(inputs[i], outputs[i - 1]), i


def test_after_cls_placement_and_dropout(vit_model):
    prompts = VisionPromptLearner(3, 64, depth=1, placement="after_cls", dropout=0.5)
    inputs, _, handles = _record_inputs(vit_model.visual.transformer.resblocks)
    try:
        with torch.no_grad():
            prompts.eval()
            vit_model.encode_image(_images(vit_model), prompts=prompts)
            assert torch.equal(inputs[0][:, 1:4], prompts.shallow.expand(2, -1, -1))  # after ln_pre
            prompts.train()
            vit_model.encode_image(_images(vit_model), prompts=prompts)
            dropped = inputs[0][:, 1:4]
    finally:
        for handle in handles:
            handle.remove()
    assert (dropped == 0).any() and not torch.equal(dropped[0], prompts.shallow)


def test_prompts_train_in_fp32_on_a_half_precision_tower(vit_state_dict):
    model = build_model(vit_state_dict, precision="bf16").lock()
    vision, text = VisionPromptLearner(2, 64, depth=2), TextDeepPrompts(2, 64, depth=2)
    image = model.encode_image(_images(model), prompts=vision)
    ids = clip.tokenize(["X X dog"])
    embeddings = model.token_embedding(ids).to(model.dtype)
    feature = model.encode_text_embeddings(embeddings, ids.argmax(-1), prompts=text)
    assert image.dtype == torch.bfloat16 and feature.dtype == torch.bfloat16
    (image.float().sum() + feature.float().sum()).backward()
    for param in [*vision.parameters(), *text.parameters()]:
        assert param.dtype == torch.float32 and param.grad is not None and param.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.parameters())


def test_adapter_sees_normalised_tokens_layout_and_mlp_hidden(vit_model):
    adapter = RecordingAdapter()
    prompts = VisionPromptLearner(2, 64, depth=1)
    inputs, _, handles = _record_inputs(vit_model.visual.transformer.resblocks)
    try:
        with torch.no_grad():
            vit_model.encode_image(_images(vit_model), prompts=prompts, adapters={1: adapter})
    finally:
        for handle in handles:
            handle.remove()
    block = vit_model.visual.transformer.resblocks[1]
    assert torch.equal(adapter.seen["tokens"], block.ln_1(inputs[1]))
    expected = TokenLayout(num_prefix=1, grid=(4, 4), num_prompts=2, prompt_position="end")
    assert adapter.seen["layout"] == expected
    assert adapter.seen["hidden"].shape == (2, 1 + 16 + 2, 4 * 64)


def test_adapter_residual_is_added_to_the_attention_branch(vit_model):
    block = vit_model.visual.transformer.resblocks[0]
    x = torch.randn(2, 17, 64)
    residual = torch.randn(64)
    layout = TokenLayout(grid=(4, 4))
    with torch.no_grad():
        out = block(x, adapter=RecordingAdapter(residual), layout=layout)
        h = block.ln_1(x).transpose(0, 1)  # the attention module is sequence-first, as OpenAI's
        mid = x + block.attn(h, h, h, need_weights=False)[0].transpose(0, 1) + residual
        expected = mid + block.mlp(block.ln_2(mid))
    assert torch.allclose(out, expected, atol=1e-6)


def test_grid_adapter_touches_only_patch_tokens(vit_model):
    adapter = DepthwiseGridAdapter(64)
    nn.init.normal_(adapter.conv.weight)
    for placement, n in (("end", 3), ("after_cls", 2)):
        layout = TokenLayout(grid=(4, 4), num_prompts=n, prompt_position=placement)
        tokens = torch.randn(2, layout.length, 64)
        residual = adapter(tokens, layout)
        outside = torch.ones(layout.length, dtype=torch.bool)
        outside[layout.patch_slice] = False
        assert residual[:, outside].abs().sum() == 0 and residual[:, layout.patch_slice].abs().sum() > 0
        assert torch.equal(grid_to_tokens(tokens_to_grid(tokens, layout), layout)[:, layout.patch_slice],
                           tokens[:, layout.patch_slice])
        # spatial order: the token after the first patch is its right-hand neighbour
        grid = tokens_to_grid(tokens, layout)
        assert torch.equal(grid[:, :, 0, 1], tokens[:, layout.patch_start + 1])
    with pytest.raises(ValueError, match="length"):
        tokens_to_grid(torch.randn(1, 10, 64), TokenLayout(grid=(4, 4)))


def test_coupled_prompts_follow_the_text_prompts(vit_model):
    text = TextDeepPrompts(2, 64, depth=2)
    ctx = nn.Parameter(torch.randn(2, 64))
    coupled = CoupledVisionPrompts(text, text_width=64, vision_width=64, shallow_source=lambda: ctx)
    assert set(coupled.state_dict()) == {"shallow_proj.weight", "shallow_proj.bias", "deep_proj.0.weight",
                                         "deep_proj.0.bias"}
    assert torch.equal(coupled.block_tokens(1), coupled.deep_proj[0](text.deep[0]))
    assert coupled.block_tokens(2) is None
    out = vit_model.encode_image(_images(vit_model), prompts=coupled)
    out.sum().backward()
    assert ctx.grad is not None and text.deep[0].grad is not None
    assert coupled.deep_proj[0].weight.grad is not None


def test_bad_prompt_configurations(vit_model, resnet_state_dict):
    with pytest.raises(ValueError, match="depth 3"):
        vit_model.encode_image(_images(vit_model), prompts=VisionPromptLearner(2, 64, depth=3))
    with pytest.raises(ValueError, match="placement"):
        VisionPromptLearner(2, 64, 1, placement="middle")
    with pytest.raises(ValueError, match="n_tokens"):
        TextDeepPrompts(0, 64, 2)
    resnet = build_model(resnet_state_dict)
    with pytest.raises(ValueError, match="ViT"):
        resnet.encode_image(torch.randn(1, 3, 64, 64), prompts=VisionPromptLearner(2, 64, 1))
    with pytest.raises(ValueError, match="cannot place"):
        replace_tokens(torch.zeros(1, 5, 8), torch.zeros(3, 8), 4)


def test_freeze_and_trainable_params(vit_state_dict):
    model = build_model(vit_state_dict)
    root = nn.Module()
    root.clip, root.vision, root.text = model, VisionPromptLearner(2, 64, 2), TextDeepPrompts(2, 64, 2)
    names = clip.set_trainable(root, root.vision, root.text)
    assert names == ["vision.shallow", "vision.deep.0", "text.deep.0"]
    assert clip.trainable_params(root.vision, root.vision) == [root.vision.shallow, root.vision.deep[0]]
    clip.freeze(root)
    assert not any(p.requires_grad for p in root.parameters())
    assert clip.trainable_params(model) == []
