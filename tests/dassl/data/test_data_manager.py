"""DataManager, DatasetWrapper, loaders and the wiring argument."""

import pytest
import tiny_run
import torch

from dassl.config import extend_cfg, get_cfg_default
from dassl.data import DataManager, DatasetWrapper
from dassl.data.data_manager import build_data_loader
from dassl.data.datasets import DATASET_REGISTRY, DatasetBase, build_dataset


@DATASET_REGISTRY.register()
class WiredTinyColors(tiny_run.TinyColors):
    """Accepts ``wiring`` and records it."""

    def __init__(self, cfg, wiring="coop"):
        self.received_wiring = wiring
        super().__init__(cfg)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tiny_run.make_image_tree(str(tmp_path_factory.mktemp("dm")))


def make_cfg(root, **opts):
    cfg = extend_cfg(get_cfg_default())
    cfg.DATASET.ROOT = root
    cfg.DATASET.NAME = "TinyColors"
    cfg.INPUT.SIZE = (8, 8)
    cfg.INPUT.TRANSFORMS = ("normalize",)
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.USE_CUDA = False
    for key, value in opts.items():
        node = cfg
        *parents, leaf = key.split("__")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return cfg


def test_loaders_and_summary(root, capsys):
    cfg = make_cfg(root, DATALOADER__TRAIN_X__BATCH_SIZE=5, DATALOADER__TEST__BATCH_SIZE=4)
    dm = DataManager(cfg)
    out = capsys.readouterr().out
    assert "Loading dataset: TinyColors" in out and "# train_x" in out and "24" in out
    assert dm.num_classes == 3 and dm.lab2cname == {0: "red", 1: "green", 2: "blue"}
    assert len(dm.train_loader_x) == 4  # 24 // 5, last partial batch dropped
    assert len(dm.test_loader) == 4  # 15 / 4 rounded up: nothing dropped at test time
    assert dm.val_loader is not None and dm.train_loader_u is None
    batch = next(iter(dm.test_loader))
    assert batch["img"].shape == (4, 3, 8, 8) and batch["index"].tolist() == [0, 1, 2, 3]
    assert set(batch) == {"img", "label", "domain", "impath", "index"}


def test_small_train_set_keeps_its_only_batch(root):
    cfg = make_cfg(root, DATALOADER__TRAIN_X__BATCH_SIZE=100)
    dm = DataManager(cfg)
    assert len(dm.train_loader_x) == 1 and next(iter(dm.train_loader_x))["img"].shape[0] == 24


def test_wiring_reaches_datasets_that_accept_it(root):
    cfg = make_cfg(root, DATASET__NAME="WiredTinyColors")
    assert build_dataset(cfg, wiring="fork").received_wiring == "fork"
    assert DataManager(cfg, wiring="stage2").dataset.received_wiring == "stage2"
    assert DataManager(cfg).dataset.received_wiring == "coop"  # not passed: class default


def test_plain_dataset_accepts_default_wiring_only(root):
    cfg = make_cfg(root)
    assert isinstance(DataManager(cfg, wiring="coop").dataset, DatasetBase)
    with pytest.raises(ValueError, match="wiring"):
        DataManager(cfg, wiring="promptkd")


def test_unknown_dataset_name_suggests_closest(root):
    with pytest.raises(ValueError, match="TinyColors"):
        build_dataset(make_cfg(root, DATASET__NAME="TinyColours"))


def test_wrapper_multi_views_img0_and_transform_lists(root):
    cfg = make_cfg(root, DATALOADER__K_TRANSFORMS=2, DATALOADER__RETURN_IMG0=True)
    data = DataManager(cfg).dataset.train_x
    flip = lambda img: torch.zeros(1)  # noqa: E731
    item = DatasetWrapper(cfg, data, transform=flip, is_train=True)[0]
    assert isinstance(item["img"], list) and len(item["img"]) == 2 and item["img0"].shape == (3, 8, 8)
    item = DatasetWrapper(cfg, data, transform=[flip, flip], is_train=False)[0]
    assert torch.is_tensor(item["img"]) and "img2" in item
    with pytest.raises(ValueError, match="K_TRANSFORMS=2"):
        DatasetWrapper(cfg, data, transform=None, is_train=True)


def test_empty_source_is_an_error(root):
    with pytest.raises(ValueError, match="empty"):
        build_data_loader(make_cfg(root), data_source=[])
