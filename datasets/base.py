"""Base class of the CoOp-style datasets: locate files, read or generate the split, few-shot, wiring.

A dataset module only declares its folder names and how to build its split when no split file exists;
everything else (split file, few-shot cache, base/new subsampling, which split goes where, checks and
error messages) happens here and in :mod:`datasets.splits` / :mod:`datasets.wiring`.
"""

from __future__ import annotations

import logging
import os

from dassl.data.datasets import DatasetBase

from .splits import (
    base_new_labels,
    find_fewshot_file,
    load_or_create_fewshot,
    read_split,
    save_split,
)
from .templates import TemplateMixin
from .wiring import check_wiring, modal_from_cfg, wire_splits

log = logging.getLogger(__name__)

DOCS_FILE = "DATASETS.md"


def docs_hint(section: str) -> str:
    return f'See {DOCS_FILE}, section "{section}", for where to get the data and the expected layout.'


def locate_dataset_dir(root: str, folder: str, name: str, hint: str) -> str:
    """``<root>/<folder>``; a root that already is that folder (``--root DATA/caltech-101``) also works.

    The DPC and CAPT command lines pass the dataset's own folder as ``--root``; accepting it keeps those
    commands working on the usual ``DATA/<folder>`` layout.
    """
    candidate = os.path.join(root, folder)
    if os.path.isdir(candidate):
        return candidate
    if os.path.basename(os.path.normpath(root)) == folder and os.path.isdir(root):
        return root
    raise FileNotFoundError(
        f"{name}: dataset folder not found. Expected {candidate} (DATASET.ROOT = {root}). {hint}"
    )


def cache_folder(cache_dir: str, dataset_dir: str) -> str:
    """Where a dataset's caches and generated splits are written: ``<cache_dir>/<dataset folder>``, or the
    dataset folder itself when ``cache_dir`` is empty (the upstream layout)."""
    if not cache_dir:
        return dataset_dir
    return os.path.join(os.path.abspath(os.path.expanduser(cache_dir)), os.path.basename(dataset_dir))


def require_path(path: str, what: str, name: str, hint: str) -> str:
    """Return ``path`` if it exists, else raise an error naming it."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{name}: {what} not found at {path}. {hint}")
    return path


class CoOpDataset(TemplateMixin, DatasetBase):
    """A benchmark in the CoOp data layout, registered under its class name (= ``DATASET.NAME``).

    Constructor flow: locate folders -> read the split file (or build and save it) -> few-shot cache when
    ``DATASET.NUM_SHOTS >= 1`` -> :func:`datasets.wiring.wire_splits` -> ``DatasetBase.__init__``.

    Subclasses set:
        dataset_dir: folder under ``DATASET.ROOT`` (replaced by the absolute path on the instance, as in
            upstream Dassl datasets).
        image_subdir: image folder inside ``dataset_dir``; split paths are relative to it.
        split_relative_to_dataset_dir: split paths are relative to ``dataset_dir`` instead (StanfordCars).
        uses_split_file: False for datasets whose official lists define the split (FGVCAircraft).
    and override :meth:`generate_split` (or :meth:`load_splits`).

    Extra attributes beyond ``DatasetBase``: ``all_classnames`` (every class, by full label),
    ``base_classnames`` / ``new_classnames`` (the two halves used by base-to-new runs), ``wiring``,
    ``split_prefix``, ``split_path`` (the official split file), ``generated_split_path``, ``cache_dir``,
    ``split_fewshot_dir`` (where few-shot caches are written), ``fewshot_dirs`` (where they are looked
    for), and the template class attributes.

    Files this class writes (few-shot caches, a generated split) go to ``cache_dir``: the dataset folder
    by default, ``<DATASET.CACHE_DIR>/<dataset folder>`` when that key is set, so a read-only or shared data
    tree is never written to. A split generated because the official file is missing is saved as
    ``split_generated_<Name>.json``, never under the official name, and announced in the log.
    """

    dataset_dir = ""
    image_subdir = ""
    split_relative_to_dataset_dir = False
    uses_split_file = True

    def __init__(self, cfg, wiring: str | None = "coop"):
        self.wiring = check_wiring(wiring)
        self.seed = cfg.SEED
        self.locate(cfg.DATASET.ROOT, cfg.DATASET.get("CACHE_DIR", ""))
        train, val, test = self.load_splits()

        names = {}
        for item in train:
            names.setdefault(item.label, item.classname)
        base, new = base_new_labels(names)
        self.all_classnames = [names[y] for y in sorted(names)]
        self.base_classnames = [names[y] for y in base]
        self.new_classnames = [names[y] for y in new]

        num_shots = cfg.DATASET.NUM_SHOTS
        if num_shots >= 1:
            cache = find_fewshot_file(self.fewshot_dirs, num_shots, cfg.SEED)
            train, val = load_or_create_fewshot(cache, train, val, num_shots, self.dataset_dir, self.hint)

        splits = wire_splits(
            train,
            val,
            test,
            wiring=self.wiring,
            subsample=cfg.DATASET.get("SUBSAMPLE_CLASSES", "all"),
            modal=modal_from_cfg(cfg),
        )
        super().__init__(**splits)

    # ----------------------------------------------------------------------------------------------------
    @classmethod
    def located(cls, root: str, cache_dir: str = "", seed: int | None = None):
        """An instance with its folders set but no split loaded, for tools that only read split files."""
        obj = cls.__new__(cls)
        obj.seed = seed
        obj.locate(root, cache_dir)
        return obj

    @classmethod
    def docs_section(cls) -> str:
        return cls.__name__

    @property
    def hint(self) -> str:
        """Appended to every error about missing files."""
        return docs_hint(self.docs_section())

    @property
    def name(self) -> str:
        return type(self).__name__

    def locate(self, root: str, cache_dir: str = "") -> None:
        """Set the absolute folders and files under ``root`` (and ``cache_dir``); fail if the data folders are
        absent. Nothing is created here: caches are written (and their folder made) only when needed."""
        self.root = os.path.abspath(os.path.expanduser(root))
        self.dataset_dir = locate_dataset_dir(self.root, type(self).dataset_dir, self.name, self.hint)
        self.image_dir = (
            os.path.join(self.dataset_dir, self.image_subdir) if self.image_subdir else self.dataset_dir
        )
        if not os.path.isdir(self.image_dir):
            raise FileNotFoundError(f"{self.name}: image folder not found at {self.image_dir}. {self.hint}")
        self.split_prefix = self.dataset_dir if self.split_relative_to_dataset_dir else self.image_dir
        self.split_path = (
            os.path.join(self.dataset_dir, f"split_zhou_{self.name}.json") if self.uses_split_file else None
        )
        self.cache_dir = cache_folder(cache_dir, self.dataset_dir)
        generated = f"split_generated_{self.name}.json"
        self.generated_split_path = os.path.join(self.cache_dir, generated) if self.uses_split_file else None
        self.split_fewshot_dir = os.path.join(self.cache_dir, "split_fewshot")
        upstream = os.path.join(self.dataset_dir, "split_fewshot")
        self.fewshot_dirs = tuple(dict.fromkeys((self.split_fewshot_dir, upstream)))

    def find_cached(self, *parts: str) -> str | None:
        """The existing file ``parts`` in ``cache_dir``, else in the dataset folder (published caches), else
        None."""
        for folder in dict.fromkeys((self.cache_dir, self.dataset_dir)):
            path = os.path.join(folder, *parts)
            if os.path.exists(path):
                return path
        return None

    def path(self, *parts: str) -> str:
        """A path inside ``dataset_dir``."""
        return os.path.join(self.dataset_dir, *parts)

    def require(self, path: str, what: str) -> str:
        return require_path(path, what, self.name, self.hint)

    def load_splits(self):
        """Full-class ``(train, val, test)``: the official split file when present, else a split generated
        earlier (``split_generated_<Name>.json``), else one generated now and saved under that name."""
        if not self.split_path:
            return self.generate_split()
        if os.path.exists(self.split_path):
            return read_split(self.split_path, self.split_prefix, self.hint)
        generated = self.find_cached(os.path.basename(self.generated_split_path))
        if generated:
            log.warning(
                f"Using the GENERATED split {generated}: there is no official split file {self.split_path} "
                '(its "generated" entry says how it was made; numbers are not comparable with published ones)'
            )
            return read_split(generated, self.split_prefix, self.hint)
        train, val, test = self.generate_split()
        provenance = self.generation_record()
        save_split(train, val, test, self.generated_split_path, self.split_prefix, generated=provenance)
        log.warning(
            f"GENERATED a split for {self.name}: no official split file {self.split_path}. "
            f"{provenance['procedure']} Saved it as {self.generated_split_path} (never under the official "
            f"name); put the official {os.path.basename(self.split_path)} in {self.dataset_dir} to use it "
            "instead. Numbers on a generated split are not comparable with published ones."
        )
        return train, val, test

    def generation_record(self) -> dict:
        """How :meth:`generate_split` drew the split, stored in the generated file."""
        seed = self.seed
        state = f"after seeding with SEED {seed}" if seed is not None else "in the state the caller left it"
        return {
            "dataset": self.name,
            "official_file": os.path.basename(self.split_path),
            "source": self.dataset_dir,
            "seed": seed,
            "procedure": (
                f"Drawn by {type(self).__name__}.generate_split from the raw files (CoOp's per-class random "
                f"split, Python's random module {state})."
            ),
        }

    def generate_split(self):
        """Build ``(train, val, test)`` from the raw files (called when the split file is absent)."""
        raise FileNotFoundError(f"{self.name}: split file not found at {self.split_path}. {self.hint}")
