"""``Datum`` and ``DatasetBase``.

``Datum`` must stay a plain class living at this module path with the
instance attributes ``_impath, _label, _domain, _classname``: few-shot caches
and ``preprocessed.pkl`` files pickled by the original Dassl unpickle into it,
and pickles written here load under the original Dassl.
"""

import logging
import os.path as osp
import random
from collections import defaultdict

from dassl.utils import check_isfile

log = logging.getLogger(__name__)

__all__ = ["Datum", "DatasetBase"]


class Datum:
    """One sample: image path, integer label, domain index and class name.

    The constructor checks that the image exists; unpickling does not (it
    restores ``__dict__`` without calling ``__init__``).
    """

    def __init__(self, impath="", label=0, domain=0, classname=""):
        assert isinstance(impath, str), f"impath must be a str, got {type(impath).__name__}"
        assert check_isfile(impath), f'No file found at "{impath}"'
        self._impath = impath
        self._label = label
        self._domain = domain
        self._classname = classname

    @classmethod
    def of_checked_file(cls, impath, label=0, domain=0, classname=""):
        """A ``Datum`` whose file the caller has just checked (or taken from another ``Datum``): the same
        object as the constructor's, without a second file-system call per image (seconds on the large
        data sets, at every start)."""
        assert isinstance(impath, str), f"impath must be a str, got {type(impath).__name__}"
        item = cls.__new__(cls)
        item._impath, item._label, item._domain, item._classname = impath, label, domain, classname
        return item

    @property
    def impath(self):
        return self._impath

    @property
    def label(self):
        return self._label

    @property
    def domain(self):
        return self._domain

    @property
    def classname(self):
        return self._classname

    def __repr__(self):
        return f"Datum(impath={self._impath!r}, label={self._label}, classname={self._classname!r})"


class DatasetBase:
    """Container of the ``train_x``/``train_u``/``val``/``test`` lists of :class:`Datum`.

    ``num_classes``, ``lab2cname`` and ``classnames`` are derived from
    ``train_x`` only: the classifier covers whatever classes ``train_x`` has.
    """

    dataset_dir = ""  # directory under DATASET.ROOT holding this dataset
    domains = []  # domain names, for multi-domain datasets

    def __init__(self, train_x=None, train_u=None, val=None, test=None):
        self._train_x = train_x
        self._train_u = train_u
        self._val = val
        self._test = test
        self._num_classes = self.get_num_classes(train_x)
        self._lab2cname, self._classnames = self.get_lab2cname(train_x)

    @property
    def train_x(self):
        return self._train_x

    @property
    def train_u(self):
        return self._train_u

    @property
    def val(self):
        return self._val

    @property
    def test(self):
        return self._test

    @property
    def lab2cname(self):
        return self._lab2cname

    @property
    def classnames(self):
        return self._classnames

    @property
    def num_classes(self):
        return self._num_classes

    @staticmethod
    def get_num_classes(data_source):
        """``max(label) + 1`` over ``data_source``."""
        return max(item.label for item in data_source) + 1

    @staticmethod
    def get_lab2cname(data_source):
        """Return ``({label: classname}, [classname ordered by label])``."""
        seen = {item.label: item.classname for item in data_source}
        mapping = {label: seen[label] for label in sorted(seen)}
        return mapping, list(mapping.values())

    def check_input_domains(self, source_domains, target_domains):
        assert len(source_domains) > 0, "source_domains (list) is empty"
        assert len(target_domains) > 0, "target_domains (list) is empty"
        self.is_input_domain_valid(source_domains)
        self.is_input_domain_valid(target_domains)

    def is_input_domain_valid(self, input_domains):
        for domain in input_domains:
            if domain not in self.domains:
                raise ValueError(f"Input domain must belong to {self.domains}, but got [{domain}]")

    def download_data(self, url, dst, from_gdrive=True):
        """Download and extract an archive (needs network access)."""
        import tarfile
        import zipfile

        from dassl.utils import download_url, mkdir_if_missing

        mkdir_if_missing(osp.dirname(dst))
        if from_gdrive:
            raise RuntimeError(f"Google Drive downloads are not supported; fetch {url} manually into {dst}")
        download_url(url, dst)
        log.info("Extracting file ...")
        if dst.endswith(".zip"):
            with zipfile.ZipFile(dst, "r") as zf:
                zf.extractall(osp.dirname(dst))
        elif dst.endswith((".tar", ".tar.gz", ".tgz")):
            with tarfile.open(dst) as tf:
                tf.extractall(osp.dirname(dst))
        else:
            raise NotImplementedError(f"Cannot extract {dst}: unknown archive type")
        log.info(f"File extracted to {osp.dirname(dst)}")

    def generate_fewshot_dataset(self, *data_sources, num_shots=-1, repeat=False):
        """Sample ``num_shots`` items per label from each source.

        Uses the global :mod:`random` module in the same call order as Dassl
        (labels in first-seen order, ``random.sample`` per label), so a given
        seed picks the same images as the CoOp-family code. Labels with fewer
        than ``num_shots`` items keep all of them, or are sampled with
        replacement when ``repeat``. Returns one list for one source.
        """
        if num_shots < 1:
            return data_sources[0] if len(data_sources) == 1 else data_sources
        log.info(f"Creating a {num_shots}-shot dataset")
        output = []
        for data_source in data_sources:
            sampled = []
            for items in self.split_dataset_by_label(data_source).values():
                if len(items) >= num_shots:
                    sampled.extend(random.sample(items, num_shots))
                elif repeat:
                    sampled.extend(random.choices(items, k=num_shots))
                else:
                    sampled.extend(items)
            output.append(sampled)
        return output[0] if len(output) == 1 else output

    @staticmethod
    def split_dataset_by_label(data_source):
        """Group items by label (keys in first-seen order)."""
        groups = defaultdict(list)
        for item in data_source:
            groups[item.label].append(item)
        return groups

    @staticmethod
    def split_dataset_by_domain(data_source):
        """Group items by domain (keys in first-seen order)."""
        groups = defaultdict(list)
        for item in data_source:
            groups[item.domain].append(item)
        return groups
