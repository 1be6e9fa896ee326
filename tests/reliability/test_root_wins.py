"""Point 8: a few-shot cache copied with its data to a new root reads images from the new root, even while
the old copy still exists."""

import pickle
import shutil

from dassl.data.datasets import Datum
from datasets.splits import load_or_create_fewshot


def test_copied_cache_reads_images_from_the_new_root(tmp_path):
    old = tmp_path / "old" / "food-101"
    for label in range(2):
        (old / "images" / f"c{label}").mkdir(parents=True)
        (old / "images" / f"c{label}" / "1.jpg").write_bytes(b"x")
    items = [Datum(impath=str(old / "images" / f"c{y}" / "1.jpg"), label=y, classname=f"c{y}")
             for y in range(2)]
    cache = old / "split_fewshot" / "shot_1-seed_1.pkl"
    cache.parent.mkdir()
    cache.write_bytes(pickle.dumps({"train": items, "val": items}))
    new = tmp_path / "new" / "food-101"
    shutil.copytree(old, new)  # the old tree stays in place
    train, val = load_or_create_fewshot(str(new / "split_fewshot" / "shot_1-seed_1.pkl"), [], [], 1, str(new))
    assert all(d.impath.startswith(str(new) + "/") for d in train + val), [d.impath for d in train]
