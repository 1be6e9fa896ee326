"""Start-up cost: importing the entry point must not pull in heavy optional modules."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# open_clip's package (its model zoo, timm) and TensorBoard each add a large part of a second to every run;
# they are imported where needed (templates, the tokenizer file, the first event writer).
HEAVY = ("open_clip", "timm", "tensorboard", "torch.utils.tensorboard")


def test_importing_train_and_tokenizing_leaves_heavy_modules_unimported():
    code = ("import sys, train, clip; clip.tokenize('a photo of a cat.'); "
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_the_bpe_merges_file_is_read_once():
    # open_clip's tokenizer module builds its default tokenizer when loaded; a second build reads and
    # parses the 49k merges again (a noticeable part of a second at every start).
    code = ("import gzip, clip; opened = []; real = gzip.open\n"
            "gzip.open = lambda path, *a, **k: opened.append(str(path)) or real(path, *a, **k)\n"
            "clip.tokenize('a photo of a cat.'); print(len(opened))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1", out.stdout + out.stderr
