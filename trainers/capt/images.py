"""Confusion-Bank images by index, decoded once into a small LRU cache and transformed per use."""

from __future__ import annotations

from collections import OrderedDict

import torch

from dassl.utils import read_image


class BankImages:
    """``images(indices, train)`` -> the bank images ``indices`` as a tensor [N, 3, H, W].

    ``train`` picks the training transform (augmented views of the representatives) or the test one. Decoded
    images are kept in an LRU cache of ``capacity`` entries (0 = none); the transforms run on every call.
    """

    def __init__(self, paths: list[str], train_transform, test_transform, capacity: int = 512,
                 reader=read_image):
        self.paths = list(paths)
        self.transforms = {True: train_transform, False: test_transform}
        self.capacity = int(capacity)
        self.reader = reader
        self._cache: OrderedDict[int, object] = OrderedDict()

    def image(self, index: int):
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        try:
            img = self.reader(self.paths[index])
        except OSError as err:
            raise FileNotFoundError(
                f"Confusion-bank image {self.paths[index]} cannot be read ({err}); rebuild the bank with "
                f"python -m tools.confusion.build_bank --run-dir <stage-1 dir>") from None
        if self.capacity > 0:
            self._cache[index] = img
            if len(self._cache) > self.capacity:
                self._cache.popitem(last=False)
        return img

    def __call__(self, indices: list[int], train: bool) -> torch.Tensor:
        transform = self.transforms[bool(train)]
        return torch.stack([transform(self.image(i)) for i in indices])
