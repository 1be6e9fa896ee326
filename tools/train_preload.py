"""Imported once by the server that forks the demo's stages (:mod:`tools.forked_train`): everything
``train.py`` imports (torch, torchvision, the datasets and trainers) and the CLIP vocabulary, so that no
stage pays for them again. Importing it runs no tensor operation (no thread pool exists before a fork)."""

import train  # noqa: F401
from clip.tokenizer import load_bpe

load_bpe()
