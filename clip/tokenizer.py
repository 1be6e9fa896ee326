"""OpenAI's CLIP tokenization (byte-level BPE, 49408 tokens), on top of open_clip's vocabulary file and BPE.

Output matches OpenAI's ``clip.tokenize``: start token, BPE ids, end token, zero padding to the context
length. The end token has the largest id, which is how ``encode_text`` finds it (``argmax``).
"""

import importlib.util
import os
from functools import lru_cache

import torch

from clip.token_cache import TokenCache, cache_path, tokenizer_key

SOT_TOKEN = 49406
EOT_TOKEN = 49407


def _open_clip_folder() -> str | None:
    """open_clip's package folder, found without importing it (None if it is not plain files)."""
    spec = importlib.util.find_spec("open_clip")
    return (spec.submodule_search_locations or [None])[0] if spec is not None else None


def _tokenizer_module():
    """open_clip's tokenizer module, read from its module file alone.

    ``import open_clip.tokenizer`` runs the package's ``__init__``, which imports open_clip's whole model
    zoo (timm, ...): about a second at every start of a run that only needs the BPE. The tokenizer module
    imports nothing of its package, so it is loaded by itself; where that is not possible (open_clip not
    installed as plain files) the normal import is used.
    """
    import sys

    name = "_clip_bpe_open_clip_tokenizer"
    if name not in sys.modules:
        folder = _open_clip_folder()
        path = os.path.join(folder, "tokenizer.py") if folder else None
        if path is None or not os.path.isfile(path):
            from open_clip import tokenizer

            return tokenizer
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        sys.modules[name] = module
    return sys.modules[name]


@lru_cache(maxsize=1)
def _bpe():
    """The shared tokenizer, built on first use (reading the merges file takes a moment).

    The module builds a default ``SimpleTokenizer`` (the one ``open_clip.tokenize`` uses) when it is
    loaded; that instance is taken rather than reading the merges file a second time.
    """
    module = _tokenizer_module()
    tokenizer = getattr(module, "_tokenizer", None)
    if not isinstance(tokenizer, module.SimpleTokenizer):
        tokenizer = module.SimpleTokenizer()
    if (tokenizer.sot_token_id, tokenizer.eot_token_id) != (SOT_TOKEN, EOT_TOKEN):
        raise RuntimeError(f"unexpected CLIP vocabulary: start/end ids {tokenizer.sot_token_id}/"
                           f"{tokenizer.eot_token_id}, expected {SOT_TOKEN}/{EOT_TOKEN}")
    return tokenizer


def load_bpe() -> None:
    """Read the BPE now rather than at the first text the cache does not know (a process that forks
    others reads it once for all of them)."""
    _bpe()


@lru_cache(maxsize=1)
def _cache() -> TokenCache:
    """Ids of texts tokenized by earlier runs (``clip.token_cache``), read on first use."""
    return TokenCache(cache_path(), tokenizer_key(_open_clip_folder()))


def _ids(text: str) -> list[int]:
    cache = _cache()
    ids = cache.get(text)
    if ids is None:
        ids = _bpe().encode(text)
        cache.add(text, ids)
    return list(ids)


def encode(text: str) -> list[int]:
    """BPE ids of ``text`` without start/end tokens (after OpenAI's cleaning and lower-casing)."""
    ids = _ids(text)
    _cache().save()
    return ids


def decode(ids) -> str:
    """Text of a sequence of ids (start, end and padding ids are skipped)."""
    ids = [int(i) for i in ids if int(i) not in (0, SOT_TOKEN, EOT_TOKEN)]
    return _bpe().decode(ids).strip()


def tokenize(texts, context_length: int = 77, truncate: bool = False) -> torch.Tensor:
    """A string or list of strings -> LongTensor [N, context_length].

    Too long a text raises RuntimeError naming it, unless ``truncate`` (then the last kept position
    holds the end token).
    """
    if isinstance(texts, str):
        texts = [texts]
    result = torch.zeros(len(texts), context_length, dtype=torch.long)
    for row, text in enumerate(texts):
        ids = [SOT_TOKEN] + _ids(text) + [EOT_TOKEN]
        if len(ids) > context_length:
            if not truncate:
                raise RuntimeError(f"Input {text!r} is too long for context length {context_length} "
                                   f"({len(ids)} tokens with start and end)")
            ids = ids[:context_length]
            ids[-1] = EOT_TOKEN
        result[row, :len(ids)] = torch.tensor(ids, dtype=torch.long)
    _cache().save()
    return result
