"""The towers and text path against open_clip's OpenAI implementation, precision modes and named steps."""

import open_clip
import pytest
import torch

import clip
from clip.layers import LayerNorm
from clip.model import build_model, infer_config
from clip.testing import make_random_state_dict, save_state_dict, save_torchscript_archive
from clip.text import TextEncoder, eot_pool

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")

TEXTS = ["a photo of a dog.", "Hello, World! 123", "", "an über-café ☕ at 5pm", "x " * 30]


def _inputs(model, batch=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    size = model.visual.input_resolution
    images = torch.randn(batch, 3, size, size, generator=generator)
    return images, open_clip.tokenize(TEXTS)


@pytest.fixture(scope="module", params=["vit", "resnet"])
def weights_files(request, tmp_path_factory, vit_state_dict, resnet_state_dict):
    state = vit_state_dict if request.param == "vit" else resnet_state_dict
    folder = tmp_path_factory.mktemp(f"weights_{request.param}")
    archive, plain = folder / "archive.pt", folder / "plain.pt"
    save_torchscript_archive(state, str(archive))
    save_state_dict({k: v.half() if v.is_floating_point() else v for k, v in state.items()}, str(plain))
    return request.param, archive, plain


@pytest.mark.parametrize("fmt", ["archive", "plain"])
def test_features_match_open_clip(weights_files, fmt):
    kind, archive, plain = weights_files
    path = str(archive if fmt == "archive" else plain)
    ours, _ = clip.load(path)
    reference = open_clip.load_openai_model(path, precision="fp32", device="cpu").eval()
    images, ids = _inputs(ours)
    with torch.no_grad():
        image_ours, image_ref = ours.encode_image(images), reference.encode_image(images)
        text_ours, text_ref = ours.encode_text(ids), reference.encode_text(ids)
    assert image_ours.shape == image_ref.shape and text_ours.shape == text_ref.shape
    assert image_ref.abs().max() > 0.05 and text_ref.abs().max() > 0.05  # a real signal, not zeros
    assert (image_ours - image_ref).abs().max() <= 1e-4, kind
    assert (text_ours - text_ref).abs().max() <= 1e-4, kind
    assert torch.allclose(ours.logit_scale, reference.logit_scale)


def test_archive_and_plain_file_give_the_same_model(weights_files):
    _, archive, plain = weights_files
    a, _ = clip.load(str(archive))
    b, _ = clip.load(str(plain))
    for (key, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), key


def test_sizes_are_inferred(resnet_state_dict, vit_state_dict):
    config = infer_config(vit_state_dict)
    assert config["vision_layers"] == 2 and config["vision_width"] == 64 and config["vision_patch_size"] == 8
    assert config["image_resolution"] == 32 and config["context_length"] == 77
    assert config["vocab_size"] == 49408
    model = build_model(resnet_state_dict)
    assert [len(s) for s in (model.visual.layer1, model.visual.layer2, model.visual.layer3,
                             model.visual.layer4)] == [1, 1, 2, 1]
    assert model.visual.input_resolution == 64 and model.context_length == 77 and model.vocab_size == 49408
    big = make_random_state_dict("vit", vision_layers=3, vision_width=128, patch_size=16, image_resolution=64,
                                 text_width=128, text_layers=3, embed_dim=32, context_length=20)
    model = build_model(big)
    assert model.visual.transformer.layers == 3 and model.visual.transformer.resblocks[0].attn.num_heads == 2
    assert model.transformer.layers == 3 and model.text_projection.shape == (128, 32)
    assert model.context_length == 20 and model.visual.input_resolution == 64


def test_bad_state_dict_is_named(vit_state_dict):
    broken = dict(vit_state_dict)
    del broken["ln_final.weight"]
    with pytest.raises(KeyError, match="ln_final.weight"):
        build_model(broken)
    extra = dict(vit_state_dict)
    extra["visual.extra"] = torch.zeros(1)
    with pytest.raises(KeyError, match="visual.extra"):
        build_model(extra)


@pytest.mark.parametrize("precision, dtype", [("fp16", torch.float16), ("bf16", torch.bfloat16)])
def test_low_precision_layout(vit_state_dict, vit_model, precision, dtype):
    model = build_model(vit_state_dict, precision=precision)
    assert model.dtype == dtype
    block = model.visual.transformer.resblocks[0]
    for tensor in (block.attn.in_proj_weight, block.attn.in_proj_bias, block.attn.out_proj.weight,
                   block.mlp.c_fc.weight, model.visual.conv1.weight, model.visual.proj,
                   model.text_projection):
        assert tensor.dtype == dtype
    for tensor in (block.ln_1.weight, model.ln_final.weight, model.token_embedding.weight,
                   model.positional_embedding, model.visual.class_embedding, model.logit_scale):
        assert tensor.dtype == torch.float32
    images, ids = _inputs(model)
    with torch.no_grad():
        image, text = model.encode_image(images), model.encode_text(ids)
        image32, text32 = vit_model.encode_image(images), vit_model.encode_text(ids)
    assert image.dtype == dtype and text.dtype == dtype
    tolerance = 0.05 if dtype == torch.bfloat16 else 0.01
    assert (image.float() - image32).abs().max() < tolerance * image32.abs().max()
    assert (text.float() - text32).abs().max() < tolerance * text32.abs().max()


def test_resnet_runs_in_half_precision(resnet_state_dict):
    model = build_model(resnet_state_dict, precision="fp16")
    with torch.no_grad():
        out = model.encode_image(torch.randn(2, 3, 64, 64))
    assert out.dtype == torch.float16 and torch.isfinite(out).all()


def test_unknown_precision(vit_state_dict):
    with pytest.raises(ValueError, match="fp8"):
        build_model(vit_state_dict, precision="fp8")


def test_layernorm_computes_in_fp32():
    norm = LayerNorm(8)
    torch.nn.init.normal_(norm.weight)
    x = (torch.randn(4, 8) * 300).half()
    expected = torch.nn.functional.layer_norm(x.float(), (8,), norm.weight, norm.bias).half()
    out = norm(x)
    assert out.dtype == torch.float16 and torch.equal(out, expected)


def test_text_path_steps_are_shared(vit_model):
    ids = clip.tokenize(TEXTS)
    with torch.no_grad():
        direct = vit_model.encode_text(ids)
        embeddings = vit_model.token_embedding(ids)
        stepwise = vit_model.encode_text_embeddings(embeddings, ids.argmax(-1))
        encoder = TextEncoder(vit_model)
        separate = encoder(embeddings, ids.argmax(-1))
    assert torch.equal(direct, stepwise) and torch.equal(direct, separate)
    assert encoder.text_projection is vit_model.text_projection
    assert set(encoder.state_dict()) == {k for k in vit_model.state_dict() if k.startswith(
        ("transformer.", "positional_embedding", "ln_final.", "text_projection"))}


def test_causal_mask_hides_tokens_after_the_end(vit_model):
    ids = clip.tokenize(["a photo of a cat"])
    changed = ids.clone()
    changed[0, 10:] = 1000  # ids after the end token; the end token stays the largest id
    with torch.no_grad():
        assert torch.equal(vit_model.encode_text(ids), vit_model.encode_text(changed))
        before = ids.clone()
        before[0, 2] = 1000
        assert not torch.equal(vit_model.encode_text(ids), vit_model.encode_text(before))


def test_return_tokens(vit_model, resnet_state_dict):
    images, ids = _inputs(vit_model)
    with torch.no_grad():
        pooled, tokens = vit_model.encode_image(images, return_tokens=True)
        assert torch.equal(pooled, vit_model.encode_image(images))
        assert tokens.shape == (3, 1 + 16, 64)
        assert torch.equal(tokens[:, 0] @ vit_model.visual.proj, pooled)
        text, text_tokens = vit_model.encode_text(ids, return_tokens=True)
        assert text_tokens.shape == (len(TEXTS), 77, 64)
        assert torch.equal(eot_pool(text_tokens, ids.argmax(-1)) @ vit_model.text_projection, text)
        resnet = build_model(resnet_state_dict)
        pooled, fmap = resnet.encode_image(torch.randn(2, 3, 64, 64), return_tokens=True)
    assert pooled.shape == (2, 64) and fmap.shape == (2, 4, 32 * 32)


def test_wrong_image_size_is_reported(vit_model):
    with pytest.raises(ValueError, match="32x32"):
        vit_model.encode_image(torch.randn(1, 3, 48, 48))


def test_forward_gives_scaled_cosine_logits(vit_model):
    images, ids = _inputs(vit_model)
    with torch.no_grad():
        per_image, per_text = vit_model(images, ids)
        image = torch.nn.functional.normalize(vit_model.encode_image(images), dim=-1)
        text = torch.nn.functional.normalize(vit_model.encode_text(ids), dim=-1)
    assert torch.allclose(per_image, vit_model.logit_scale.exp() * image @ text.t(), atol=1e-5)
    assert torch.equal(per_text, per_image.t())


def test_lock_helpers(vit_state_dict):
    model = build_model(vit_state_dict)
    model.lock_image_tower()
    assert not any(p.requires_grad for p in model.visual.parameters())
    assert model.text_projection.requires_grad and model.token_embedding.weight.requires_grad
    model.lock_text_tower()
    assert model.logit_scale.requires_grad
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["logit_scale"]
    model.lock()
    assert not any(p.requires_grad for p in model.parameters())


def test_batchnorm_counters_are_optional(resnet_state_dict):
    trimmed = {k: v for k, v in resnet_state_dict.items() if not k.endswith("num_batches_tracked")}
    assert len(trimmed) < len(resnet_state_dict)
    model = build_model(trimmed)
    assert all(b.item() == 0 for n, b in model.named_buffers() if n.endswith("num_batches_tracked"))
    reference = build_model(resnet_state_dict)
    images = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model.encode_image(images), reference.encode_image(images))
