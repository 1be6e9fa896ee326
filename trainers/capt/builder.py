"""Building the Confusion Bank from a trained stage-1 (PromptKD) student.

Three entry points share :func:`collect_bank`:

* :func:`stage1_hook` - registered with ``trainers.promptkd.register_stage1_hook``, runs at the end of a
  PromptKD run;
* :func:`ensure_bank` - stage 2's one call: the bank of exactly the weights it froze, loaded or rebuilt;
* :func:`build_bank_for_run` - from any PromptKD run directory (the standalone tool, and ``ensure_bank``);
* the per-sample statistics go through :func:`trainers.capt.bank.make_bank` (pure aggregation).

Only base-class images of the train split are used, with their base labels; new-class labels and test
images never enter the bank.
"""

from __future__ import annotations

import logging
import os

import torch
from torch.utils.data import DataLoader, Dataset

from dassl.data.transforms import build_transform
from dassl.utils import read_image, write_text_atomic
from trainers.common.provenance import checkpoint_identity, describe, same_weights
from trainers.promptkd import register_stage1_hook

from .bank import BankParams, load_bank, make_bank, save_bank

log = logging.getLogger(__name__)

CONFIG_SNAPSHOT = "capt_stage1_config.yaml"


class _Views(Dataset):
    """Item i -> (V views [V, 3, H, W]: one test view then V-1 augmented views, base label)."""

    def __init__(self, items, test_tf, train_tf, num_views: int):
        self.items, self.test_tf, self.train_tf, self.num_views = items, test_tf, train_tf, num_views

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        path, label = self.items[i]
        img = read_image(path)
        views = [self.test_tf(img)] + [self.train_tf(img) for _ in range(self.num_views - 1)]
        return torch.stack(views), label


def base_items(train, all_classnames: list[str], num_base: int, max_per_class: int = 0):
    """(path, base label) of the base-class training images, split order, optionally capped per class."""
    out, seen = [], {}
    for item in train:
        if not 0 <= item.label < num_base:
            continue
        if all_classnames and item.classname != all_classnames[item.label]:
            raise ValueError(f"{item.impath}: class {item.classname!r} does not match label {item.label}")
        seen[item.label] = seen.get(item.label, 0) + 1
        if max_per_class and seen[item.label] > max_per_class:
            continue
        out.append((item.impath, item.label))
    if not out:
        raise ValueError("no base-class training images to build the Confusion Bank from")
    return out


@torch.no_grad()
def collect_bank(features_fn, text_features: torch.Tensor, logit_scale, items, classnames, cfg, device,
                 meta: dict | None = None) -> dict:
    """Run the frozen student over ``items`` (NUM_VIEWS views each) and aggregate the bank.

    ``features_fn(images) -> normalised features`` [B, D] in the teacher's text space;
    ``text_features`` [C_base, D] the teacher's base-class text features.
    """
    node = cfg.CAPT.BANK
    params = BankParams.from_cfg(cfg)
    views = int(node.NUM_VIEWS)
    data = _Views(items, build_transform(cfg, is_train=False), build_transform(cfg, is_train=True), views)
    loader = DataLoader(data, batch_size=int(node.BATCH_SIZE), shuffle=False,
                        num_workers=int(cfg.DATALOADER.NUM_WORKERS))
    r = max(1, min(params.near_miss_topr, text_features.shape[0]))
    text = text_features.to(device).float()
    probs, feats, top_i, top_p, labels = [], [], [], [], []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(max(int(cfg.SEED), 0))
        for images, label in loader:
            b = images.shape[0]
            f = features_fn(images.flatten(0, 1).to(device)).float()
            p = (logit_scale * f @ text.t()).softmax(dim=-1).reshape(b, views, -1)
            probs.append(p.mean(1).cpu())
            feats.append(f.reshape(b, views, -1)[:, 0].cpu())
            top = p.topk(r, dim=-1)
            top_i.append(top.indices.cpu())
            top_p.append(top.values.cpu())
            labels.append(label)
    bank = make_bank(classnames, [p for p, _ in items], torch.cat(labels), torch.cat(probs), torch.cat(feats),
                     torch.cat(top_i), torch.cat(top_p), params, meta)
    n_err = int((bank["preds"] != bank["labels"]).sum())
    log.info(f"Confusion Bank: {len(items)} base-class training images, {n_err} hard errors, "
             f"{sum(len(v) for row in bank['cells'].values() for v in row.values())} cell entries")
    return bank


def bank_path(cfg, run_dir: str) -> str:
    return os.path.join(run_dir, cfg.CAPT.BANK.FILE)


def deployed_checkpoint(trainer) -> str:
    """The file holding the weights a finished PromptKD run deployed (what its final test evaluated)."""
    from dassl.run_dir import choose_checkpoint

    if trainer.weights_file:  # best_val: after_train loaded model-best.pth.tar
        return trainer.weights_file
    return choose_checkpoint(os.path.join(trainer.output_dir, trainer.model_name), trainer.weights_epoch)


@register_stage1_hook
def stage1_hook(trainer) -> None:
    """Build ``confusion_bank.pt`` in the PromptKD output dir with the deployed student, recording its file.

    The deployed file is ``model-best.pth.tar`` under ``TEST.FINAL_MODEL best_val`` (what stage 2 freezes by
    the released precedence) and the last epoch file otherwise (what stage 2 freezes under the clean
    protocol); stage 2 rebuilds the bank when it freezes other weights (:func:`ensure_bank`).
    """
    cfg = trainer.cfg
    if "CAPT" not in cfg or not cfg.CAPT.BANK.BUILD_AFTER_STAGE1 or cfg.TRAINER.MODAL != "base2novel":
        return
    write_text_atomic(cfg.dump(), os.path.join(cfg.OUTPUT_DIR, CONFIG_SNAPSHOT))
    dataset = trainer.dm.dataset
    names = list(getattr(dataset, "all_classnames", None) or dataset.classnames)
    items = base_items(dataset.train_x, names, trainer.n_base, int(cfg.CAPT.BANK.MAX_PER_CLASS))
    model = trainer.model
    weights = checkpoint_identity(deployed_checkpoint(trainer), trainer.weights_epoch)
    was_training = model.training
    model.eval()
    try:
        bank = collect_bank(model, trainer.teacher.text_features[: trainer.n_base],
                            model.logit_scale.exp().float(), items, names[: trainer.n_base], cfg,
                            trainer.device, meta={"dataset": cfg.DATASET.NAME, "weights": weights,
                                                  "epoch": trainer.weights_epoch})
    finally:
        model.train(was_training)
    save_bank(bank, bank_path(cfg, cfg.OUTPUT_DIR))
    log.info(f"Saved Confusion Bank to {bank_path(cfg, cfg.OUTPUT_DIR)}")


def bank_cfg(cfg):
    """A copy of ``cfg`` reading the whole train split of every class (the PromptKD view of the data)."""
    c = cfg.clone()
    c.defrost()
    c.DATASET.NUM_SHOTS = 0
    c.DATASET.SUBSAMPLE_CLASSES = "all"
    c.freeze()
    return c


def build_bank_for_run(cfg, run_dir: str, epoch: int | None, device, run=None,
                       identity: dict | None = None) -> dict:
    """Build and save the bank of a PromptKD run directory (``run``: an already loaded ``PromptKDRun``;
    ``identity``: its checkpoint's :func:`checkpoint_identity`, computed here when not given)."""
    from dassl.data.datasets import build_dataset
    from trainers.promptkd import load_promptkd_run

    data_cfg = bank_cfg(cfg)
    dataset = build_dataset(data_cfg, wiring="promptkd")
    names = list(getattr(dataset, "all_classnames", None) or dataset.classnames)
    if run is None:
        run = load_promptkd_run(data_cfg, run_dir, epoch=epoch, device=device, classnames=names)
    items = base_items(dataset.train_x, names, run.num_base, int(cfg.CAPT.BANK.MAX_PER_CLASS))
    identity = identity or checkpoint_identity(run.checkpoint, run.epoch)
    bank = collect_bank(run.student, run.base_text_features, run.logit_scale, items, names[: run.num_base],
                        cfg, device, meta={"dataset": cfg.DATASET.NAME, "weights": identity,
                                           "epoch": run.epoch})
    save_bank(bank, bank_path(cfg, run_dir))
    log.info(f"Saved Confusion Bank to {bank_path(cfg, run_dir)}")
    return bank


def ensure_bank(cfg, stage1, device) -> dict:
    """The Confusion Bank of exactly the weights stage 2 freezes (``stage1``: a ``resources.Stage1``).

    The rule: a bank file records the identity (file, sha256) of the stage-1 weights that built it. Stage 2
    uses it only when that record matches the checkpoint it loaded; otherwise (other weights, no record, no
    file) it rebuilds the bank from the loaded weights and replaces the file, so the bank's features and
    predictions are always those of the frozen backbone. A bank of other classes is an error.
    """
    path = bank_path(cfg, stage1.directory)
    bank = None
    if os.path.isfile(path):
        bank = load_bank(path)
        built_from = bank.get("meta", {}).get("weights")
        if same_weights(built_from, stage1.identity):
            log.info(f"Confusion Bank: loading {path} (built from {describe(built_from)})")
        else:
            log.info(f"Confusion Bank: {path} was built from {describe(built_from)}, but stage 2 freezes "
                     f"{describe(stage1.identity)}; rebuilding it from the frozen weights")
            bank = None
    else:
        log.info(f"Confusion Bank: {path} not found; building it from the stage-1 run")
    if bank is None:
        bank = build_bank_for_run(cfg, stage1.directory, None, device, run=stage1.run,
                                  identity=stage1.identity)
    if bank["classnames"] != stage1.base_classnames:
        raise ValueError(f"{path} was built for classes {bank['classnames']}, but the base classes are "
                         f"{stage1.base_classnames}; delete it to rebuild")
    return bank
