"""Token ids equal OpenAI's (via open_clip's reference tokenizer) on the benchmark class names and on
awkward strings; overflow handling."""

import json
import os
import subprocess
import sys
from pathlib import Path

import open_clip
import pytest
import torch

from clip.tokenizer import EOT_TOKEN, SOT_TOKEN, decode, encode, tokenize

REPO = Path(__file__).resolve().parents[2]
CLASSNAMES = json.loads((Path(__file__).parent / "fixtures" / "classnames.json").read_text(encoding="utf-8"))
DATASETS = ["ImageNet", "Caltech101", "OxfordPets", "StanfordCars", "OxfordFlowers", "Food101",
            "FGVCAircraft", "SUN397", "DescribableTextures", "EuroSAT", "UCF101"]
AWKWARD = [
    "Hello, World!!!", "it's a dog's life; isn't it?", "F/A-18 & 737-800 (v2.0) #1 @home $5.99 50%",
    "3.14159 2024-01-01 10:30", "café naïve résumé Ångström Straße", "crème brûlée à la française",
    "dog 🐶 cat 🐱 👍🏽", "&amp; &lt;tag&gt; &quot;quoted&quot;", "  many   spaces\tand\nnewlines  ",
    "ALL CAPS and MiXeD", "日本語のテキスト", "Ελληνικά κείμενα", "", "x",
]


def test_reference_example():
    ids = tokenize("a photo of a dog")
    assert ids.dtype == torch.long and ids.shape == (1, 77)
    assert ids[0, :8].tolist() == [49406, 320, 1125, 539, 320, 1929, 49407, 0]
    assert ids[0, 8:].eq(0).all()


def test_fixture_covers_the_benchmarks():
    sizes = {name: len(CLASSNAMES[name]) for name in DATASETS}
    assert sizes == {"ImageNet": 1000, "Caltech101": 100, "OxfordPets": 37, "StanfordCars": 196,
                     "OxfordFlowers": 102, "Food101": 101, "FGVCAircraft": 100, "SUN397": 397,
                     "DescribableTextures": 47, "EuroSAT": 10, "UCF101": 101}


@pytest.mark.parametrize("dataset", DATASETS)
def test_class_names_match_reference(dataset):
    names = CLASSNAMES[dataset]
    prompts = [f"a photo of a {name.replace('_', ' ')}." for name in names]
    for texts in (names, prompts):
        assert torch.equal(tokenize(texts), open_clip.tokenize(texts)), dataset


def test_awkward_strings_match_reference():
    ours, reference = tokenize(AWKWARD), open_clip.tokenize(AWKWARD)
    for text, a, b in zip(AWKWARD, ours, reference):
        assert torch.equal(a, b), text


def test_end_token_is_the_argmax():
    ids = tokenize(AWKWARD)
    lengths = [len(encode(t)) + 2 for t in AWKWARD]
    assert ids.argmax(-1).tolist() == [n - 1 for n in lengths]
    assert (ids[:, 0] == SOT_TOKEN).all()


def test_overflow_raises_and_names_the_text():
    text = "word " * 80
    with pytest.raises(RuntimeError, match="word word"):
        tokenize(["short", text])
    with pytest.raises(RuntimeError, match="context length 5"):
        tokenize("a photo of a dog", context_length=5)


def test_truncate_keeps_the_end_token():
    text = "word " * 80
    ids = tokenize(text, truncate=True)
    assert ids[0, -1].item() == EOT_TOKEN and ids[0, 0].item() == SOT_TOKEN
    assert torch.equal(ids, open_clip.tokenize([text]))
    exact = "a " * 75  # 75 tokens + start + end = 77: fits without truncation
    assert tokenize(exact)[0, -1].item() == EOT_TOKEN


def test_custom_context_length_and_decode():
    ids = tokenize(["a photo of a dog"], context_length=10)
    assert ids.shape == (1, 10)
    assert decode(ids[0]) == "a photo of a dog"


def _tokenize_in_a_new_process(cache: Path, texts: list[str]) -> dict:
    code = ("import json, sys, clip; ids = clip.tokenize(json.loads(sys.argv[1])).tolist(); "
            "print(json.dumps({'ids': ids, 'bpe_loaded': '_clip_bpe_open_clip_tokenizer' in sys.modules}))")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(texts)], cwd=REPO, capture_output=True,
                         text=True, check=True, env=dict(os.environ, CLIP_TOKEN_CACHE=str(cache)))
    return json.loads(out.stdout)


def test_known_texts_come_from_the_cache_without_loading_the_bpe(tmp_path):
    cache, texts = tmp_path / "tokens.json", ["a photo of a dog.", *AWKWARD[:5]]
    first = _tokenize_in_a_new_process(cache, texts)
    assert first["bpe_loaded"] and cache.is_file()
    second = _tokenize_in_a_new_process(cache, texts)
    assert not second["bpe_loaded"]
    assert second["ids"] == first["ids"] == open_clip.tokenize(texts).tolist()
    third = _tokenize_in_a_new_process(cache, [*texts, "a new text"])  # one unknown text: the BPE again
    assert third["bpe_loaded"] and third["ids"] == open_clip.tokenize([*texts, "a new text"]).tolist()


def test_a_cache_made_with_another_vocabulary_is_not_used(tmp_path):
    cache = tmp_path / "tokens.json"
    cache.write_text(json.dumps({"key": [["elsewhere", 1, 1]], "ids": {"a photo of a dog.": [1, 2, 3]}}))
    result = _tokenize_in_a_new_process(cache, ["a photo of a dog."])
    assert result["bpe_loaded"] and result["ids"] == open_clip.tokenize(["a photo of a dog."]).tolist()
    assert json.loads(cache.read_text())["ids"] == {"a photo of a dog.": encode("a photo of a dog.")}
