"""Which split goes where under each trainer wiring (datasets.md section 4)."""

from collections import Counter

import pytest
from dataset_trees import build, labels, make_cfg, paths

from datasets.synthetic import BUILDERS
from datasets.wiring import WIRINGS, modal_from_cfg, wire_splits

NAME = "Food101"  # 5 classes -> 3 base, 2 new (unequal halves catch off-by-one slicing)
ALL = ["apple_pie", "baby_back_ribs", "baklava", "beef_carpaccio", "beignets"]


@pytest.fixture
def food(data_root):
    BUILDERS[NAME](data_root, per_class=20)  # 10 train / 4 val / 6 test per class
    build(data_root, NAME)
    return data_root


def test_coop_wiring_uses_the_fewshot_val(food):
    ds = build(food, NAME, wiring="coop", num_shots=2, subsample="base")
    assert ds.classnames == ALL[:3]
    assert Counter(labels(ds.train_x)) == {0: 2, 1: 2, 2: 2}
    assert Counter(labels(ds.val)) == {0: 2, 1: 2, 2: 2}  # few-shot val, min(K, 4) per class
    assert Counter(labels(ds.test)) == {0: 6, 1: 6, 2: 6}
    assert not set(paths(ds.val)) & set(paths(ds.test))


def test_coop_wiring_without_shots_keeps_the_full_val(food):
    ds = build(food, NAME, wiring="coop")
    assert Counter(labels(ds.val)) == {y: 4 for y in range(5)}


def test_fork_wiring_validates_on_test(food):
    ds = build(food, NAME, wiring="fork", num_shots=2, subsample="new")
    assert ds.classnames == ALL[3:]
    assert paths(ds.val) == paths(ds.test)
    assert Counter(labels(ds.test)) == {0: 6, 1: 6}


def test_promptkd_base2novel(food):
    ds = build(food, NAME, wiring="promptkd", num_shots=0, trainer="PromptKD", modal="base2novel")
    # every class of the train split, including the new ones (transductive distillation)
    assert ds.classnames == ALL and ds.num_classes == 5
    assert len(ds.train_x) == 50
    # val = base-class test images, test = new-class test images, both relabelled from 0
    assert Counter(labels(ds.val)) == {0: 6, 1: 6, 2: 6}
    assert {d.classname for d in ds.val} == set(ALL[:3])
    assert Counter(labels(ds.test)) == {0: 6, 1: 6}
    assert {(d.label, d.classname) for d in ds.test} == {(0, ALL[3]), (1, ALL[4])}


def test_promptkd_ignores_subsample_in_base2novel(food):
    plain = build(food, NAME, wiring="promptkd", num_shots=0, modal="base2novel")
    base = build(food, NAME, wiring="promptkd", num_shots=0, modal="base2novel", subsample="base")
    assert paths(base.train_x) == paths(plain.train_x)
    assert paths(base.test) == paths(plain.test)


def test_promptkd_without_modal_key_is_base2novel(food):
    ds = build(food, NAME, wiring="promptkd", num_shots=0)  # no TRAINER.MODAL in this config
    assert ds.num_classes == 5 and sorted(set(labels(ds.test))) == [0, 1]


def test_promptkd_cross_is_the_fork_wiring(food):
    ds = build(food, NAME, wiring="promptkd", num_shots=0, modal="cross")
    fork = build(food, NAME, wiring="fork", num_shots=0)
    assert paths(ds.train_x) == paths(fork.train_x)
    assert paths(ds.val) == paths(ds.test) == paths(fork.test)


@pytest.mark.parametrize("subsample, names", [("base", ALL[:3]), ("new", ALL[3:])])
def test_stage2_wiring(food, subsample, names):
    ds = build(food, NAME, wiring="stage2", num_shots=2, subsample=subsample, modal="base2novel")
    assert ds.classnames == names
    assert Counter(labels(ds.train_x)) == {y: 2 for y in range(len(names))}
    assert Counter(labels(ds.val)) == {0: 6, 1: 6, 2: 6}  # base test, whatever the subsample
    assert Counter(labels(ds.test)) == {0: 6, 1: 6}  # new test


def test_coop_and_promptkd_differ_on_the_same_data(food):
    coop = build(food, NAME, wiring="coop", num_shots=0)
    kd = build(food, NAME, wiring="promptkd", num_shots=0)
    assert paths(coop.train_x) == paths(kd.train_x)
    assert len(coop.test) == 30 and len(kd.test) == 12
    assert set(paths(coop.val)).isdisjoint(paths(coop.test))
    assert set(paths(kd.val)) <= set(paths(coop.test))


def test_wiring_is_recorded_and_validated(food):
    assert build(food, NAME, wiring="fork").wiring == "fork"
    assert build(food, NAME, wiring=None).wiring == "coop"
    with pytest.raises(ValueError, match=r"Unknown data wiring 'kd'; expected one of \['coop', 'fork'"):
        build(food, NAME, wiring="kd")
    with pytest.raises(
        ValueError, match=r"TRAINER.MODAL must be one of \['base2novel', 'cross'\], got 'b2n'"
    ):
        build(food, NAME, wiring="promptkd", modal="b2n")


def test_wire_splits_without_a_val_split_uses_test(food):
    ds = build(food, NAME)
    out = wire_splits(ds.train_x, None, ds.test, wiring="coop", subsample="new")
    assert out["val"] is out["test"]
    assert sorted(set(labels(out["train_x"]))) == [0, 1]


def test_modal_from_cfg_defaults():
    from yacs.config import CfgNode

    assert modal_from_cfg(CfgNode({"TRAINER": {"NAME": "PromptKD"}})) == "base2novel"
    assert modal_from_cfg(CfgNode({"TRAINER": {"MODAL": "cross"}})) == "cross"
    assert WIRINGS == ("coop", "fork", "promptkd", "stage2")


def test_data_manager_passes_the_trainer_wiring(food):
    from dassl.data import DataManager

    cfg = make_cfg(food, NAME, num_shots=2, subsample="base")
    cfg.DATALOADER.NUM_WORKERS = 0
    coop = DataManager(cfg, wiring="coop")
    kd = DataManager(cfg, wiring="promptkd")
    assert coop.num_classes == 3 and len(coop.test_loader.dataset) == 18
    assert kd.num_classes == 5 and len(kd.val_loader.dataset) == 18 and len(kd.test_loader.dataset) == 12
