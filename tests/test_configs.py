"""Every shipped config loads onto the full default tree, every trainer folder names a registered
trainer, every registered trainer has a toy config, and every shell script parses."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from dassl.config import extend_cfg, get_cfg_default, merge_cfg_from_file

REPO = Path(__file__).resolve().parents[1]
DATASET_CONFIGS = sorted((REPO / "configs" / "datasets").glob("*.yaml"))
TRAINER_ROOT = REPO / "configs" / "trainers"
TRAINER_CONFIGS = sorted(TRAINER_ROOT.rglob("*.yaml"))
SCRIPTS = sorted((REPO / "scripts").rglob("*.sh"))
# Config folders named after the published layout instead of a trainer: folder -> registered trainer.
# configs/trainers/SPLE/PromptKD holds the DPC/CAPT stage-2 configs run with --trainer StackSPLE_PromptKD.
ALIAS_FOLDERS = {"SPLE/PromptKD": "StackSPLE_PromptKD"}
HEADER = re.compile(r"#\s*Trainer:\s*([A-Za-z_][A-Za-z0-9_]*)")


def _import(name):
    """Import a package that registers datasets or trainers (and their config keys); return the error."""
    try:
        __import__(name)
    except Exception as e:  # reported by the tests that need the package, not as a collection error
        return e
    return None


IMPORT_ERRORS = {name: _import(name) for name in ("datasets", "trainers")}


def _registry():
    from dassl.engine import TRAINER_REGISTRY

    return TRAINER_REGISTRY


def _require(*packages):
    for name in packages:
        if IMPORT_ERRORS[name] is not None:
            pytest.fail(f"importing the {name} package failed: {IMPORT_ERRORS[name]!r}")


def _rel(path):
    return path.relative_to(REPO).as_posix()


def _folder(path):
    return path.parent.relative_to(TRAINER_ROOT).as_posix()


def _trainer_of_folder(folder):
    return ALIAS_FOLDERS.get(folder, folder)


def _same_trainer(a, b):
    """The same class, or one a bare subclass of the other (a second registered name, e.g.
    ``StackSPLE_PromptKD(CAPT)`` with nothing of its own)."""
    def bare(cls):
        return all(key.startswith("__") for key in vars(cls))

    return a is b or (issubclass(a, b) and bare(a)) or (issubclass(b, a) and bare(b))


def _load(path):
    """The default config of the whole project with ``path`` merged; the error names file and key."""
    cfg = extend_cfg(get_cfg_default())
    try:
        merge_cfg_from_file(cfg, str(path))
    except Exception as e:
        pytest.fail(f"{_rel(path)} does not merge onto the default config: {type(e).__name__}: {e}")
    return cfg


@pytest.mark.parametrize("path", DATASET_CONFIGS, ids=_rel)
def test_dataset_config_loads(path):
    _require("datasets")
    from dassl.data.datasets import DATASET_REGISTRY

    cfg = _load(path)
    name = cfg.DATASET.NAME
    assert name in DATASET_REGISTRY, (
        f"{_rel(path)}: DATASET.NAME {name!r} is not a registered dataset "
        f"(registered: {sorted(DATASET_REGISTRY.registered_names())})"
    )


@pytest.mark.parametrize("path", TRAINER_CONFIGS, ids=_rel)
def test_trainer_config_loads_in_a_trainer_folder(path):
    _require("datasets", "trainers")
    registry = _registry()
    cfg = _load(path)
    folder = _folder(path)
    trainer = _trainer_of_folder(folder)
    assert trainer in registry, (
        f"{_rel(path)}: folder {folder!r} is neither a registered trainer nor a known alias folder "
        f"{sorted(ALIAS_FOLDERS)}; registered: {sorted(registry.registered_names())}"
    )
    header = HEADER.match(path.read_text().lstrip())
    assert header, f"{_rel(path)}: the file must start with a '# Trainer: <name>' header line"
    named = header.group(1)
    assert named in registry and _same_trainer(registry.get(named), registry.get(trainer)), (
        f"{_rel(path)}: the header names trainer {named!r}, the folder means {trainer!r}"
    )
    if path.name.startswith("toy_"):
        backbone = str(cfg.MODEL.BACKBONE.NAME)
        assert backbone.startswith("Toy"), (
            f"{_rel(path)}: a toy config must use a toy-world backbone (ToyViT-S/L), got {backbone!r}"
        )


def _registered_trainers():
    if IMPORT_ERRORS["trainers"] is not None:
        return ["<trainers package not importable>"]
    registry = _registry()
    # Only the project's trainers: test modules register tiny trainers of their own.
    names = registry.registered_names()
    return sorted(n for n in names if registry.get(n).__module__.startswith("trainers."))


@pytest.mark.parametrize("name", _registered_trainers())
def test_registered_trainer_has_a_toy_config(name):
    _require("datasets", "trainers")
    registry = _registry()
    cls = registry.get(name)
    toy = [
        _rel(p) for p in TRAINER_CONFIGS
        if p.name.startswith("toy_") and _trainer_of_folder(_folder(p)) in registry
        and _same_trainer(registry.get(_trainer_of_folder(_folder(p))), cls)
    ]
    assert toy, f"trainer {name!r} has no configs/trainers/<{name} or an alias>/toy_*.yaml for the toy world"


def _invoked_with_bash(rel, path):
    """Documented as ``bash <path>`` or sourced by another script."""
    texts = [p.read_text(errors="replace") for p in [*REPO.glob("*.md"), *REPO.glob("docs/*.md"), *SCRIPTS]]
    sourced = re.compile(r'(^|\s)(source|\.)\s+("\$\(dirname "\$0"\))?\S*' + re.escape(path.name))
    return any(f"bash {rel}" in t for t in texts) or any(
        sourced.search(p.read_text(errors="replace")) for p in SCRIPTS if p != path
    )


@pytest.mark.parametrize("path", SCRIPTS, ids=_rel)
def test_shell_script_parses_and_can_be_run(path):
    bash = shutil.which("bash")
    assert bash, "bash is needed to check the scripts"
    result = subprocess.run([bash, "-n", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, f"{_rel(path)} does not parse: {result.stderr.strip()}"
    text = path.read_text()
    if os.access(path, os.X_OK):
        assert text.startswith("#!"), f"{_rel(path)} is executable but has no #! line"
    else:
        assert _invoked_with_bash(_rel(path), path), (
            f"{_rel(path)} is neither executable nor documented as 'bash {_rel(path)}' or sourced"
        )
    for ref in re.findall(r"configs/[\w+./-]+\.yaml", text):
        assert (REPO / ref).is_file(), f"{_rel(path)} refers to a missing config file {ref}"
    _require("datasets", "trainers")
    for name in re.findall(r"--trainer\s+([A-Za-z_]\w*)", text):
        assert name in _registry(), f"{_rel(path)} runs --trainer {name}, which is not registered"


# What every shipped trainer config normalised images with before the statistics moved to the weights
# (then written out in 20 YAML files and inherited by the rest): OpenAI CLIP's, for OpenAI and toy weights.
SHIPPED_MEAN = [0.48145466, 0.4578275, 0.40821073]
SHIPPED_STD = [0.26862954, 0.26130258, 0.27577711]


@pytest.mark.parametrize("path", TRAINER_CONFIGS, ids=_rel)
def test_trainer_config_normalises_as_before(path, monkeypatch):
    _require("datasets", "trainers")
    from dassl.config import resolve_pixel_stats

    monkeypatch.delenv("CLIP_WEIGHTS_DIR", raising=False)  # the toy backbones' records in clip/
    cfg = resolve_pixel_stats(_load(path))
    assert (cfg.INPUT.PIXEL_MEAN, cfg.INPUT.PIXEL_STD) == (SHIPPED_MEAN, SHIPPED_STD), (
        f"{_rel(path)} ({cfg.MODEL.BACKBONE.NAME}) now normalises with mean {cfg.INPUT.PIXEL_MEAN}, "
        f"std {cfg.INPUT.PIXEL_STD}")


def test_toy_configs_take_the_statistics_from_the_toy_records(tmp_path):
    """The toy backbones' statistics are read from their records, not assumed: another record shows."""
    _require("datasets", "trainers")
    import json

    from dassl.config import pixel_stats

    toy = [p for p in TRAINER_CONFIGS if p.name.startswith("toy_")]
    assert toy
    own = {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}
    for name in ("ToyViT-S", "ToyViT-L"):
        record = json.loads((REPO / "clip" / f"{name}.json").read_text())
        assert record["preprocess"] == {"mean": SHIPPED_MEAN, "std": SHIPPED_STD}, name
        (tmp_path / f"{name}.pt").symlink_to(REPO / "clip" / f"{name}.pt")
        (tmp_path / f"{name}.json").write_text(json.dumps({**record, "preprocess": own}))
    for path in toy:
        cfg = _load(path)
        cfg.MODEL.CLIP_WEIGHTS_DIR = str(tmp_path)
        assert pixel_stats(cfg) == (own["mean"], own["std"]), _rel(path)
