"""The papers' base-to-new tables, as data, for ``python -m tools.parse_results <root> --published NAME``.

One JSON file per table (``capt``, ``capt_ucp``, ``promptkd``), each citing the paper and table it copies::

    {"title": ..., "source": <paper, table>, "reproduce": <sweep spec or script>, "values": <what a cell is>,
     "columns": [{"name": "CAPT", "methods": ["CAPT", "StackSPLE_PromptKD"],
                  "rows": {"Average": [B, N, H], "ImageNet": [B, N, H], ...}}, ...],
     "notes": [<printed values that disagree with their own inputs>, ...]}

``methods`` are the trainer names whose runs a column is compared with; ``rows`` are keyed by the papers'
dataset names (:data:`PAPER_ROWS` maps ours to theirs; a dataset without an entry keeps its own name, so a
table of other datasets, such as the toy ones, uses our names). Values are printed as the papers print them;
the ``notes`` say where those disagree with their own arithmetic.
"""

from __future__ import annotations

import glob
import json
import numbers
import os.path as osp

HERE = osp.dirname(osp.abspath(__file__))
AVERAGE = "Average"
# Our dataset config stems -> the row names of the published tables.
PAPER_ROWS = {"imagenet": "ImageNet", "caltech101": "Caltech101", "oxford_pets": "OxfordPets",
              "stanford_cars": "StanfordCars", "oxford_flowers": "Flowers102", "food101": "Food101",
              "fgvc_aircraft": "FGVCAircraft", "sun397": "SUN397", "dtd": "DTD", "eurosat": "EuroSAT",
              "ucf101": "UCF101"}
TOP_KEYS = {"title", "source", "reproduce", "values", "columns", "notes"}


def row_name(dataset: str) -> str:
    """The published row name of one of our datasets (``oxford_flowers`` -> ``Flowers102``)."""
    return PAPER_ROWS.get(dataset, dataset)


def available() -> list[str]:
    """Names of the shipped tables (the JSON files next to this module)."""
    return sorted(osp.splitext(osp.basename(p))[0] for p in glob.glob(osp.join(HERE, "*.json")))


def path_of(name: str) -> str:
    if name not in available():
        raise ValueError(f"no published table {name!r}; shipped: {available()}")
    return osp.join(HERE, f"{name}.json")


def _fail(path: str, message: str):
    raise ValueError(f"published table {path}: {message}")


def _check_cell(path: str, where: str, cell) -> None:
    ok = isinstance(cell, list) and len(cell) == 3 and all(
        v is None or (isinstance(v, numbers.Real) and not isinstance(v, bool)) for v in cell)
    if not ok:
        _fail(path, f"{where} must be [base, new, H] (numbers or null), got {cell!r}")


def load(path: str) -> dict:
    """Read and check a table file; errors name the file and the key."""
    try:
        with open(path) as f:
            table = json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"published table {path}: cannot read it ({err})") from err
    if not isinstance(table, dict):
        _fail(path, f"expected a JSON object, got {type(table).__name__}")
    if set(table) - TOP_KEYS:
        _fail(path, f"unknown keys {sorted(set(table) - TOP_KEYS)}; allowed: {sorted(TOP_KEYS)}")
    if not isinstance(table.get("source"), str) or not table["source"]:
        _fail(path, "'source' must name the paper and table the numbers come from")
    columns = table.get("columns")
    if not isinstance(columns, list) or not columns:
        _fail(path, f"'columns' must be a non-empty list, got {columns!r}")
    for i, column in enumerate(columns):
        where = f"columns[{i}]"
        if not isinstance(column, dict) or not isinstance(column.get("name"), str):
            _fail(path, f"{where} must be an object with a string 'name', got {column!r}")
        methods = column.get("methods")
        if not isinstance(methods, list) or not methods or not all(isinstance(m, str) and m for m in methods):
            _fail(path, f"{where} ({column['name']}) 'methods' must be a non-empty list of trainer names")
        rows = column.get("rows")
        if not isinstance(rows, dict) or not rows:
            _fail(path, f"{where} ({column['name']}) 'rows' must map dataset names to [base, new, H]")
        for row, cell in rows.items():
            _check_cell(path, f"{where} ({column['name']}) row {row!r}", cell)
    notes = table.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        _fail(path, f"'notes' must be a list of strings, got {notes!r}")
    return table


def load_named(name: str) -> dict:
    return load(path_of(name))


def matches(method: str, names) -> bool:
    """True when our method label (``UCPCoOp`` or ``UCPCoOp/<cfg>``) is one of the trainer ``names``."""
    return any(method == n or method.startswith(n + "/") for n in names)
