"""Datum pickle compatibility and DatasetBase behaviour."""

import pickle
import pickletools
import random
import struct

import pytest

from dassl.data.datasets import DatasetBase, Datum

UPSTREAM_GLOBAL = b"cdassl.data.datasets.base_dataset\nDatum\n"


def _unicode(text):
    raw = text.encode("utf-8")
    return b"X" + struct.pack("<I", len(raw)) + raw


def _int(value):
    return b"J" + struct.pack("<i", value)


def upstream_datum_list_pickle(items):
    """Protocol-2 bytes of a list of Datum, as Dassl's plain class pickles them.

    Built opcode by opcode so the test does not depend on this package's class
    to write the pickle.
    """
    out = b"\x80\x02" + b"]" + b"("  # PROTO 2, EMPTY_LIST, MARK
    for impath, label, domain, classname in items:
        out += UPSTREAM_GLOBAL + b")" + b"\x81"  # GLOBAL, EMPTY_TUPLE, NEWOBJ
        out += b"}" + b"("  # EMPTY_DICT, MARK
        out += _unicode("_impath") + _unicode(impath)
        out += _unicode("_label") + _int(label)
        out += _unicode("_domain") + _int(domain)
        out += _unicode("_classname") + _unicode(classname)
        out += b"u" + b"b"  # SETITEMS, BUILD
    return out + b"e" + b"."  # APPENDS, STOP


def test_upstream_pickle_loads_without_checking_files():
    data = upstream_datum_list_pickle([("/gone/a.jpg", 3, 0, "cat"), ("/gone/b.jpg", 7, 1, "dog")])
    assert len(list(pickletools.genops(data))) > 10  # well-formed opcode stream
    items = pickle.loads(data)
    assert [type(d) for d in items] == [Datum, Datum]
    first = items[0]
    assert (first.impath, first.label, first.domain, first.classname) == ("/gone/a.jpg", 3, 0, "cat")
    assert items[1].label == 7 and items[1].classname == "dog"


def test_our_pickles_use_the_upstream_layout(tmp_path):
    img = tmp_path / "x.jpg"
    img.write_bytes(b"")
    data = pickle.dumps([Datum(impath=str(img), label=2, domain=0, classname="bird")], protocol=2)
    assert b"dassl.data.datasets.base_dataset" in data and b"Datum" in data
    for attr in (b"_impath", b"_label", b"_domain", b"_classname"):
        assert attr in data
    assert not hasattr(Datum, "__slots__") and "__reduce__" not in Datum.__dict__


def test_datum_checks_path(tmp_path):
    with pytest.warns(UserWarning, match="No file found"), pytest.raises(AssertionError):
        Datum(impath=str(tmp_path / "missing.jpg"))
    with pytest.raises(AssertionError):
        Datum(impath=123)
    f = tmp_path / "ok.jpg"
    f.write_bytes(b"")
    d = Datum(impath=str(f), label=1, classname="a")
    with pytest.raises(AttributeError):
        d.label = 3


@pytest.fixture
def pool(tmp_path):
    f = tmp_path / "i.jpg"
    f.write_bytes(b"")
    # Labels deliberately not sorted: grouping must follow first-seen order.
    labels = [2, 0, 2, 1, 0, 2, 1, 0, 2, 1, 1, 0, 2]
    return [Datum(impath=str(f), label=lab, classname=f"c{lab}") for lab in labels]


def test_fewshot_same_seed_same_items_and_call_order(pool):
    base = DatasetBase.__new__(DatasetBase)
    random.seed(3)
    first = base.generate_fewshot_dataset(pool, num_shots=2)
    random.seed(3)
    second = base.generate_fewshot_dataset(pool, num_shots=2)
    assert [id(x) for x in first] == [id(x) for x in second]
    # Reference: random.sample per label, labels in first-seen order (2, 0, 1).
    random.seed(3)
    groups = {2: [], 0: [], 1: []}
    for d in pool:
        groups[d.label].append(d)
    expected = [x for label in (2, 0, 1) for x in random.sample(groups[label], 2)]
    assert [id(x) for x in first] == [id(x) for x in expected]


def test_fewshot_small_classes_and_repeat(pool, capsys):
    base = DatasetBase.__new__(DatasetBase)
    assert base.generate_fewshot_dataset(pool, num_shots=-1) is pool
    random.seed(0)
    out = base.generate_fewshot_dataset(pool, num_shots=5)
    assert "Creating a 5-shot dataset" in capsys.readouterr().out
    assert sorted(d.label for d in out) == [0] * 4 + [1] * 4 + [2] * 5
    random.seed(0)
    rep = base.generate_fewshot_dataset(pool, num_shots=5, repeat=True)
    assert len(rep) == 15
    a, b = base.generate_fewshot_dataset(pool, pool[:6], num_shots=1)
    assert len(a) == 3 and len(b) == 3


def test_dataset_base_derives_classes_from_train_x(pool):
    ds = DatasetBase(train_x=pool[:4], val=pool, test=pool)
    assert ds.num_classes == 3
    assert ds.lab2cname == {0: "c0", 1: "c1", 2: "c2"} and ds.classnames == ["c0", "c1", "c2"]
    only_two = DatasetBase(train_x=[d for d in pool if d.label != 1], test=pool)
    assert only_two.num_classes == 3 and only_two.classnames == ["c0", "c2"]
    by_label = DatasetBase.split_dataset_by_label(pool)
    assert list(by_label) == [2, 0, 1]
