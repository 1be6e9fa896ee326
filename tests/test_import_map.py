"""The import map of the layers: dassl/ below everything, plug-ins (CaPT, CAPT) as leaves above the baselines.

Imports are read from the source with ``ast`` (function-level imports included) and followed through the
project's modules, so a lazy or an indirect import (a baseline importing another that imports a plug-in)
that breaks a rule is caught as well as a direct one.
"""

import ast
import functools
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BASELINES = ["coop", "cocoop", "kgcoop", "prograd", "dapt", "dept", "ivlp", "promptsrc", "promptkd",
             "zeroshot_clip"]
PLUGINS = ("trainers.ucp", "trainers.capt")
ABOVE_DASSL = ("clip", "datasets", "trainers", "tools", "train", "parallel_runner")


def module_name(path: Path, root: Path = REPO) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def imported_modules(path: Path, root: Path = REPO) -> frozenset[str]:
    """Every module ``path`` imports, relative imports resolved against its package."""
    package = module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            stem = ".".join([*base, node.module] if node.module else base)
            found.add(stem)
            found.update(f"{stem}.{alias.name}" for alias in node.names)
    return frozenset(found)


def within(name: str, roots) -> bool:
    return any(name == root or name.startswith(root + ".") for root in roots)


def source_file(name: str, root: Path = REPO) -> Path | None:
    """The project file defining module ``name`` (or the module of symbol ``name``); None outside."""
    parts = name.split(".")
    while parts:
        for candidate in (root.joinpath(*parts).with_suffix(".py"), root.joinpath(*parts, "__init__.py")):
            if candidate.is_file():
                return candidate
        parts = parts[:-1]
    return None


def reachable(path: Path, root: Path = REPO) -> dict[Path, list[str]]:
    """Project files ``path`` imports directly or through other project files, each with one import chain
    (implicit imports of parent packages' ``__init__`` are not followed)."""
    chains = {path: [module_name(path, root)]}
    todo = [path]
    while todo:
        current = todo.pop()
        for name in sorted(imported_modules(current, root)):
            target = source_file(name, root)
            if target is not None and target not in chains:
                chains[target] = [*chains[current], name]
                todo.append(target)
    return chains


def offending(paths, roots, root: Path = REPO) -> list[str]:
    """Import chains from ``paths`` that end in a module under one of ``roots``."""
    found = set()
    for path in paths:
        for target, chain in reachable(path, root).items():
            if within(module_name(target, root), roots):
                found.add(" -> ".join(chain))
    return sorted(found)


def test_imported_modules_resolves_relative_and_lazy_imports(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    source = package / "mod.py"
    source.write_text("from .sibling import x\n\ndef f():\n    import trainers.ucp.plugin\n")
    assert imported_modules(source, tmp_path) == {"pkg.sibling", "pkg.sibling.x", "trainers.ucp.plugin"}
    (package / "sibling.py").write_text("import pkg.leaf\n")
    (package / "leaf.py").write_text("")
    assert offending([source], ["pkg.leaf"], tmp_path) == ["pkg.mod -> pkg.sibling -> pkg.leaf"]


@pytest.mark.parametrize("name", BASELINES)
def test_baseline_trainers_do_not_import_the_plugins(name):
    assert offending([REPO / "trainers" / f"{name}.py"], PLUGINS) == []


def test_shared_trainer_blocks_do_not_import_the_plugins():
    assert offending(sorted((REPO / "trainers" / "common").rglob("*.py")), PLUGINS) == []


def test_dassl_imports_nothing_above_it():
    paths = sorted((REPO / "dassl").rglob("*.py"))
    assert len(paths) > 20
    assert offending(paths, ABOVE_DASSL) == []
