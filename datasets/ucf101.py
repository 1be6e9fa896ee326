"""UCF101 action recognition, one middle frame per video (101 actions)."""

import os
import re

from dassl.data.datasets import DATASET_REGISTRY

from .base import CoOpDataset
from .splits import make_items, split_trainval

_BEFORE_CAPITAL = re.compile(r"(?<=.)(?=[A-Z])")


def action_name(action: str) -> str:
    """``ApplyEyeMakeup`` -> ``Apply_Eye_Makeup`` (also the name of the frame folder)."""
    return _BEFORE_CAPITAL.sub("_", action)


@DATASET_REGISTRY.register()
class UCF101(CoOpDataset):
    dataset_dir = "ucf101"
    image_subdir = "UCF-101-midframes"

    def generate_split(self):
        path = self.require(
            self.path("ucfTrainTestlist", "classInd.txt"), "class list ucfTrainTestlist/classInd.txt"
        )
        label_of = {}
        with open(path) as f:
            for lineno, line in enumerate(f, 1):
                fields = line.split()
                if not fields:
                    continue
                if len(fields) != 2 or not fields[0].isdigit():
                    raise ValueError(f"{path}, line {lineno}: expected '<class id> <Action>', got {line!r}")
                label_of[fields[1]] = int(fields[0]) - 1
        trainval = self.read_list("trainlist01.txt", label_of)
        test = self.read_list("testlist01.txt", label_of)
        train, val = split_trainval(trainval)
        return train, val, test

    def read_list(self, filename: str, label_of: dict):
        """Lines ``<Action>/<video>.avi [class id]``; the frame is ``<Action_Words>/<video>.jpg``."""
        path = self.require(
            self.path("ucfTrainTestlist", filename), f"video list ucfTrainTestlist/{filename}"
        )
        records = []
        with open(path) as f:
            for lineno, line in enumerate(f, 1):
                fields = line.split()
                if not fields:
                    continue
                if fields[0].count("/") != 1:
                    raise ValueError(f"{path}, line {lineno}: expected '<Action>/<video>.avi', got {line!r}")
                action, video = fields[0].split("/")
                if action not in label_of:
                    raise ValueError(f"{path}, line {lineno}: action {action!r} is not in classInd.txt")
                name = action_name(action)
                frame = os.path.splitext(video)[0] + ".jpg"
                records.append((os.path.join(self.image_dir, name, frame), label_of[action], name))
        return make_items(records, path, self.hint)
