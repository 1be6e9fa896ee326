"""Steps of the toy demo around the CAPT stages: placing the teacher, the confusion report.

``place_teacher`` copies the last checkpoint of a PromptSRC run to where PromptKD looks for its teacher
(``<teacher root>/<DATASET.NAME>/VLPromptLearner/model-best.pth.tar``). ``confusion_report`` compares the
base-class errors of stage 1 (PromptKD) and stage 2 (CAPT), writes ``confusion_compare.json`` and the
before/after heat-maps into the CAPT run, renders the Confusion Bank heat-map into the PromptKD run and
returns the lines to print.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def place_teacher(run_dir: Path, teacher_root: Path, dataset_name: str) -> Path:
    folder = run_dir / "VLPromptLearner"
    epochs = sorted((int(p.name.rsplit("-", 1)[1]), p) for p in folder.glob("model.pth.tar-*"))
    if not epochs:
        raise FileNotFoundError(f"no model.pth.tar-<N> in {folder}: the teacher run did not finish")
    dest = teacher_root / dataset_name / "VLPromptLearner" / "model-best.pth.tar"
    if dest.is_file() and dest.stat().st_mtime >= epochs[-1][1].stat().st_mtime:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    shutil.copyfile(epochs[-1][1], tmp)
    os.replace(tmp, dest)
    print(f"== teacher placed at {dest} (epoch {epochs[-1][0]} of {run_dir})")
    return dest


def confusion_report(stage1: Path, stage2: Path) -> tuple[list[str], dict]:
    from tools.confusion import compare_runs, show_bank

    result = compare_runs.run(str(stage1), str(stage2))
    lines = [compare_runs.format_report(result, top=5)]
    bank = stage1 / "confusion_bank.pt"
    if bank.is_file():
        show_bank.main([str(bank), "--top", "5", "--png", str(stage1 / "confusion_bank.png")])
        lines.append(f"Confusion Bank heat-map: {stage1 / 'confusion_bank.png'}")
    lines.append("Before/after heat-maps: " + ", ".join(str(stage2 / n) for n in result.get("heatmaps", [])))
    return lines, result
