"""The CoOp prompt learner: prompt layout per class-token position, init, CSC, offsets, text encoding."""

import pytest
import torch

from clip import build_model, tokenize
from clip.testing import make_random_state_dict
from trainers.common.coop_prompt import (
    CoOpPromptLearner,
    build_coop_prompt_learner,
    cosine_logits,
)

NAMES = ["t_shirt", "trouser", "ankle boot"]
PHRASE = "a photo of a"


@pytest.fixture(scope="module")
def tiny_clip():
    sd = make_random_state_dict("vit", seed=3, embed_dim=32, image_resolution=32, vision_layers=1,
                                vision_width=64, patch_size=8, text_width=64, text_layers=1)
    return build_model(sd).eval()


def embed(model, texts):
    with torch.no_grad():
        return model.token_embedding(tokenize(texts)).to(model.dtype)


@pytest.mark.parametrize("position, template", [
    ("end", "a photo of a {}."),
    ("front", "{} a photo of a."),
    ("middle", "a photo {} of a."),
])
def test_prompts_equal_the_embedded_sentence_for_every_position(tiny_clip, position, template):
    learner = CoOpPromptLearner(NAMES, tiny_clip, ctx_init=PHRASE, class_token_position=position)
    texts = [template.format(n.replace("_", " ")) for n in NAMES]
    assert torch.equal(learner(), embed(tiny_clip, texts))
    assert torch.equal(learner.eot_indices, tokenize(texts).argmax(dim=-1))


def test_shapes_buffers_and_random_init(tiny_clip):
    torch.manual_seed(0)
    learner = CoOpPromptLearner(NAMES, tiny_clip, n_ctx=5, init_std=0.5)
    assert learner.ctx.shape == (5, 64) and learner.n_ctx == 5 and learner.n_cls == 3
    assert learner.token_prefix.shape == (3, 1, 64) and learner.token_suffix.shape == (3, 77 - 6, 64)
    assert 0.4 < learner.ctx.std().item() < 0.6
    assert learner.prompt_prefix == "X X X X X"
    # saved tensors: CoOp's checkpoint keys, nothing else
    assert set(learner.state_dict()) == {"ctx", "token_prefix", "token_suffix"}
    prompts = learner()
    assert prompts.shape == (3, 77, 64)
    assert torch.equal(prompts[:, 1:6], learner.ctx.expand(3, -1, -1))
    expected = embed(tiny_clip, [f"X X X X X {n.replace('_', ' ')}." for n in NAMES])
    assert torch.equal(prompts[:, :1], expected[:, :1]) and torch.equal(prompts[:, 6:], expected[:, 6:])
    name_ends = tokenize(["t shirt", "trouser", "ankle boot"]).argmax(-1)
    assert learner.name_lens == [int(i) - 1 for i in name_ends]


def test_phrase_init_sets_n_ctx_from_words_and_reads_underscores(tiny_clip):
    learner = CoOpPromptLearner(NAMES, tiny_clip, n_ctx=16, ctx_init="a_photo_of_a")
    assert learner.n_ctx == 4 and learner.ctx.shape == (4, 64)
    assert torch.equal(learner.ctx.data, embed(tiny_clip, [PHRASE])[0, 1:5])


def test_class_specific_context(tiny_clip):
    learner = CoOpPromptLearner(NAMES, tiny_clip, n_ctx=2, csc=True)
    assert learner.ctx.shape == (3, 2, 64) and learner.csc
    prompts = learner()
    for c in range(3):
        assert torch.equal(prompts[c, 1:3], learner.ctx[c])
    assert not torch.equal(prompts[0, 1:3], prompts[1, 1:3])
    # a phrase init wins over CSC (generic context, as in CoOp)
    assert CoOpPromptLearner(NAMES, tiny_clip, ctx_init=PHRASE, csc=True).ctx.shape == (4, 64)


@pytest.mark.parametrize("position", ["end", "middle", "front"])
def test_class_offsets_land_on_every_context_token_and_nowhere_else(tiny_clip, position):
    learner = CoOpPromptLearner(NAMES, tiny_clip, n_ctx=4, class_token_position=position)
    m = torch.randn(3, 64)
    base = learner()
    shifted = learner.build_prompts(learner.class_context(m))
    assert shifted.shape == base.shape
    diff = shifted - base
    changed = diff.abs().sum(-1) > 0  # [C, L]
    assert changed.sum(dim=1).tolist() == [4, 4, 4]
    for c in range(3):
        assert torch.allclose(diff[c][changed[c]], m[c].expand(4, -1), atol=1e-6)
    # the context positions are where CoOp puts them
    start = {"end": 1, "middle": 1, "front": 1 + learner.name_lens[0]}[position]
    assert changed[0, start].item()


def test_image_offsets_broadcast_over_classes(tiny_clip):
    learner = CoOpPromptLearner(NAMES, tiny_clip, ctx_init=PHRASE)
    pi = torch.randn(2, 64)
    ctx = learner.image_context(pi)
    assert ctx.shape == (2, 1, 4, 64)
    prompts = learner.build_prompts(ctx)
    assert prompts.shape == (2, 3, 77, 64)
    base = learner()
    for b in range(2):
        assert torch.allclose(prompts[b, :, 1:5], base[:, 1:5] + pi[b], atol=1e-6)
        assert torch.equal(prompts[b, :, :1], base[:, :1]) and torch.equal(prompts[b, :, 5:], base[:, 5:])


def test_shared_offset_of_one_row_reaches_all_classes(tiny_clip):
    learner = CoOpPromptLearner(NAMES, tiny_clip, n_ctx=2)
    ctx = learner.class_context(torch.ones(1, 64))
    assert ctx.shape == (3, 2, 64) and torch.allclose(ctx[2], learner.ctx + 1)


class FixedOffsets(torch.nn.Module):
    def __init__(self, offsets):
        super().__init__()
        self.offsets = torch.nn.Parameter(offsets)

    def forward(self):
        return self.offsets


def test_offsets_slot_conditions_the_context_and_owns_its_keys(tiny_clip):
    learner = CoOpPromptLearner(NAMES, tiny_clip, n_ctx=2)
    assert learner.class_offsets is None
    assert torch.equal(learner.context(), learner.ctx.expand(3, -1, -1))  # empty slot: plain CoOp
    m = torch.randn(3, 64)
    learner.attach_class_offsets(FixedOffsets(m), "plug")
    assert torch.equal(learner.context(), learner.class_context(m))
    assert "plug.offsets" in learner.state_dict()
    assert any(p is learner.plug.offsets for p in learner.parameters())
    with pytest.raises(ValueError, match="already carries class offsets"):
        learner.attach_class_offsets(FixedOffsets(m), "other")
    wrong = CoOpPromptLearner(NAMES, tiny_clip, n_ctx=2)
    wrong.attach_class_offsets(FixedOffsets(torch.randn(2, 64)), "plug")
    with pytest.raises(ValueError, match="2 per-class offsets for 3 classes"):
        wrong.context()


def test_gradients_reach_ctx_only(tiny_clip):
    learner = CoOpPromptLearner(NAMES, tiny_clip, n_ctx=3, class_token_position="middle")
    learner.build_prompts(learner.image_context(torch.randn(2, 64))).pow(2).sum().backward()
    assert learner.ctx.grad is not None and learner.ctx.grad.abs().sum() > 0
    assert not learner.token_prefix.requires_grad and not learner.token_suffix.requires_grad


def test_encode_matches_clip_encode_text_and_per_image_grouping(tiny_clip):
    learner = CoOpPromptLearner(NAMES, tiny_clip, ctx_init=PHRASE)
    texts = [f"a photo of a {n.replace('_', ' ')}." for n in NAMES]
    with torch.no_grad():
        feats = learner.encode(tiny_clip, learner())
        assert torch.allclose(feats, tiny_clip.encode_text(tokenize(texts)), atol=1e-5)
        prompts = learner.build_prompts(learner.image_context(torch.randn(5, 64)))
        one_by_one = learner.encode(tiny_clip, prompts)
        grouped = learner.encode(tiny_clip, prompts, max_sequences=6)  # two images per pass
    assert one_by_one.shape == (5, 3, 32)
    assert torch.allclose(one_by_one, grouped, atol=1e-5)
    assert torch.allclose(one_by_one[3], tiny_clip.encode_text_embeddings(prompts[3], learner.eot_indices),
                          atol=1e-5)


def test_cosine_logits_by_hand():
    f = torch.tensor([[3.0, 4.0]])
    t = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    logits = cosine_logits(f, t, torch.tensor(0.0))
    assert torch.allclose(logits, torch.tensor([[0.6, 0.8]]))
    per_image = cosine_logits(torch.cat([f, f]), torch.stack([t, t.flip(0)]), torch.log(torch.tensor(10.0)))
    assert torch.allclose(per_image, torch.tensor([[6.0, 8.0], [8.0, 6.0]]))


def test_bad_arguments_raise_clear_errors(tiny_clip):
    with pytest.raises(ValueError, match="class_token_position"):
        CoOpPromptLearner(NAMES, tiny_clip, class_token_position="left")
    with pytest.raises(ValueError, match="n_ctx"):
        CoOpPromptLearner(NAMES, tiny_clip, n_ctx=0)
    learner = CoOpPromptLearner(NAMES, tiny_clip, n_ctx=2)
    with pytest.raises(ValueError, match="context must be"):
        learner.build_prompts(torch.zeros(3, 64))
    with pytest.raises(ValueError, match="classes"):
        learner.build_prompts(torch.zeros(5, 2, 64))
    with pytest.raises(ValueError, match="per-image offsets"):
        learner.image_context(torch.zeros(2, 3))


def test_builder_reads_a_config_node(tiny_clip):
    from yacs.config import CfgNode

    node = CfgNode({"N_CTX": 3, "CSC": True, "CTX_INIT": "", "CLASS_TOKEN_POSITION": "front"})
    learner = build_coop_prompt_learner(node, NAMES, tiny_clip)
    assert learner.ctx.shape == (3, 3, 64) and learner.class_token_position == "front"
    assert build_coop_prompt_learner(node, NAMES, tiny_clip, csc=False).ctx.shape == (3, 64)
