"""Dataset -> transforms -> data loaders."""

import logging
import random

import numpy as np
import torch
import torchvision.transforms as T
from tabulate import tabulate
from torch.utils.data import Dataset as TorchDataset

from dassl.config.engine_keys import cfg_get
from dassl.config.pixel_stats import pixel_stats
from dassl.utils import read_image
from dassl.utils.distributed import get_rank, get_world_size, is_distributed, shared_seed

from .datasets import build_dataset
from .samplers import build_distributed_train_sampler, build_sampler
from .transforms import INTERPOLATION_MODES, build_transform

log = logging.getLogger(__name__)

__all__ = ["DataManager", "DatasetWrapper", "build_data_loader", "per_process_batch_size", "seed_worker"]


def seed_worker(worker_id):
    """Seed Python and NumPy in a loader worker from the seed torch gave it."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def per_process_batch_size(batch_size, world_size):
    """Share of a global training batch that each of ``world_size`` processes loads.

    ``DATALOADER.TRAIN_X.BATCH_SIZE`` (and ``TRAIN_U``) is the global batch: the published learning
    rates stay valid on any number of GPUs, and the averaged gradient is that of the same batch size.
    """
    if batch_size % world_size != 0:
        raise ValueError(
            f"DATALOADER training BATCH_SIZE {batch_size} is the global batch and must be divisible by the "
            f"{world_size} processes (WORLD_SIZE); choose a multiple of {world_size}"
        )
    return batch_size // world_size


def build_data_loader(
    cfg,
    sampler_type="SequentialSampler",
    data_source=None,
    batch_size=64,
    n_domain=0,
    n_ins=2,
    tfm=None,
    is_train=True,
    dataset_wrapper=None,
):
    """A torch ``DataLoader`` over ``data_source`` wrapped by ``dataset_wrapper``.

    The last incomplete batch is dropped when training, unless the data has
    fewer items than one batch. In a distributed run a training loader loads
    this process's shard with its share of the global batch
    (:func:`per_process_batch_size`; a batch the processes cannot share is
    reported as ``loader.distributed_batch_error``, raised when training starts).
    """
    if not data_source:
        raise ValueError(f"Cannot build a {'train' if is_train else 'test'} loader from an empty data source")
    num_items = len(data_source)
    batch_error = None
    if is_train and is_distributed():
        try:
            batch_size = per_process_batch_size(batch_size, get_world_size())
        except ValueError as err:
            # evaluation-only runs never load a training batch: the trainer raises this if it trains
            batch_error, batch_size = str(err), 1
        sampler = build_distributed_train_sampler(
            sampler_type, data_source, get_world_size(), get_rank(), shared_seed(cfg.SEED)
        )
        num_items = len(sampler)  # this process's shard
    else:
        sampler = build_sampler(
            sampler_type, cfg=cfg, data_source=data_source, batch_size=batch_size, n_domain=n_domain,
            n_ins=n_ins
        )
    wrapper = dataset_wrapper or DatasetWrapper
    deterministic = cfg_get(cfg.TRAIN, "DETERMINISTIC", False)
    loader = torch.utils.data.DataLoader(
        wrapper(cfg, data_source, transform=tfm, is_train=is_train),
        batch_size=batch_size,
        sampler=sampler,
        num_workers=cfg.DATALOADER.NUM_WORKERS,
        drop_last=is_train and num_items >= batch_size,
        pin_memory=torch.cuda.is_available() and cfg.USE_CUDA,
        worker_init_fn=seed_worker if deterministic else None,
    )
    assert len(loader) > 0, "The data loader is empty"
    if batch_error is not None:
        loader.distributed_batch_error = batch_error
    return loader


class DataManager:
    """Build the dataset named in the config, its transforms and loaders.

    ``wiring`` (set by the trainer's ``data_wiring``) tells the dataset which
    splits feed train/val/test; it is forwarded to the dataset class only
    when given.
    """

    def __init__(self, cfg, custom_tfm_train=None, custom_tfm_test=None, dataset_wrapper=None, wiring=None):
        kwargs = {} if wiring is None else {"wiring": wiring}
        dataset = build_dataset(cfg, **kwargs)

        if custom_tfm_train is None:
            tfm_train = build_transform(cfg, is_train=True)
        else:
            log.info("* Using custom transform for training")
            tfm_train = custom_tfm_train
        if custom_tfm_test is None:
            tfm_test = build_transform(cfg, is_train=False)
        else:
            log.info("* Using custom transform for testing")
            tfm_test = custom_tfm_test

        loaders = cfg.DATALOADER
        self.train_loader_x = build_data_loader(
            cfg,
            sampler_type=loaders.TRAIN_X.SAMPLER,
            data_source=dataset.train_x,
            batch_size=loaders.TRAIN_X.BATCH_SIZE,
            n_domain=loaders.TRAIN_X.N_DOMAIN,
            n_ins=loaders.TRAIN_X.N_INS,
            tfm=tfm_train,
            is_train=True,
            dataset_wrapper=dataset_wrapper,
        )

        self.train_loader_u = None
        if dataset.train_u:
            u = loaders.TRAIN_X if loaders.TRAIN_U.SAME_AS_X else loaders.TRAIN_U
            self.train_loader_u = build_data_loader(
                cfg,
                sampler_type=u.SAMPLER,
                data_source=dataset.train_u,
                batch_size=u.BATCH_SIZE,
                n_domain=u.N_DOMAIN,
                n_ins=u.N_INS,
                tfm=tfm_train,
                is_train=True,
                dataset_wrapper=dataset_wrapper,
            )

        def test_loader(data_source):
            return build_data_loader(
                cfg,
                sampler_type=loaders.TEST.SAMPLER,
                data_source=data_source,
                batch_size=loaders.TEST.BATCH_SIZE,
                tfm=tfm_test,
                is_train=False,
                dataset_wrapper=dataset_wrapper,
            )

        self.val_loader = test_loader(dataset.val) if dataset.val else None
        self.test_loader = test_loader(dataset.test)

        self._num_classes = dataset.num_classes
        self._num_source_domains = len(cfg.DATASET.SOURCE_DOMAINS)
        self._lab2cname = dataset.lab2cname
        self.dataset = dataset

        if cfg.VERBOSE:
            self.show_dataset_summary(cfg)

    @property
    def num_classes(self):
        return self._num_classes

    @property
    def num_source_domains(self):
        return self._num_source_domains

    @property
    def lab2cname(self):
        return self._lab2cname

    def show_dataset_summary(self, cfg):
        rows = [["Dataset", cfg.DATASET.NAME]]
        if cfg.DATASET.SOURCE_DOMAINS:
            rows.append(["Source", cfg.DATASET.SOURCE_DOMAINS])
        if cfg.DATASET.TARGET_DOMAINS:
            rows.append(["Target", cfg.DATASET.TARGET_DOMAINS])
        rows.append(["# classes", f"{self.num_classes:,}"])
        rows.append(["# train_x", f"{len(self.dataset.train_x):,}"])
        if self.dataset.train_u:
            rows.append(["# train_u", f"{len(self.dataset.train_u):,}"])
        if self.dataset.val:
            rows.append(["# val", f"{len(self.dataset.val):,}"])
        rows.append(["# test", f"{len(self.dataset.test):,}"])
        log.info(tabulate(rows))


class DatasetWrapper(TorchDataset):
    """Read and transform the items of a list of :class:`Datum`.

    Each item is a dict with ``label``, ``domain``, ``impath``, ``index`` and
    ``img`` (``img2``, ``img3``... for a list of transforms; a list of views
    when ``DATALOADER.K_TRANSFORMS > 1`` in training; the PIL image when there
    is no transform), plus ``img0`` (un-augmented tensor) with
    ``DATALOADER.RETURN_IMG0``.
    """

    def __init__(self, cfg, data_source, transform=None, is_train=False):
        self.cfg = cfg
        self.data_source = data_source
        self.transform = transform
        self.is_train = is_train
        self.k_tfm = cfg.DATALOADER.K_TRANSFORMS if is_train else 1
        self.return_img0 = cfg.DATALOADER.RETURN_IMG0
        if self.k_tfm > 1 and transform is None:
            raise ValueError(f"DATALOADER.K_TRANSFORMS={self.k_tfm} needs a transform, but transform is None")
        steps = [T.Resize(tuple(cfg.INPUT.SIZE), interpolation=INTERPOLATION_MODES[cfg.INPUT.INTERPOLATION])]
        steps.append(T.ToTensor())
        if "normalize" in cfg.INPUT.TRANSFORMS:
            mean, std = pixel_stats(cfg)
            steps.append(T.Normalize(mean=mean, std=std))
        self.to_tensor = T.Compose(steps)

    def __len__(self):
        return len(self.data_source)

    def __getitem__(self, idx):
        item = self.data_source[idx]
        output = {"label": item.label, "domain": item.domain, "impath": item.impath, "index": idx}
        img0 = read_image(item.impath)
        if self.transform is None:
            output["img"] = img0
        elif isinstance(self.transform, (list, tuple)):
            for i, tfm in enumerate(self.transform):
                output["img" if i == 0 else f"img{i + 1}"] = self._transform_image(tfm, img0)
        else:
            output["img"] = self._transform_image(self.transform, img0)
        if self.return_img0:
            output["img0"] = self.to_tensor(img0)
        return output

    def _transform_image(self, tfm, img0):
        views = [tfm(img0) for _ in range(self.k_tfm)]
        return views[0] if len(views) == 1 else views
