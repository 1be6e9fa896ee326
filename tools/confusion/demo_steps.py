"""The toy demo's confusion report after the CAPT stages.

``confusion_report`` compares the base-class errors of the stage-1 backbone CAPT froze (scored by CAPT's own
evaluation, ``backbone_wrong_predictions.json``) and of stage 2 (CAPT), writes ``confusion_compare.json`` and
the before/after heat-maps into the CAPT run, renders the Confusion Bank heat-map into the PromptKD run and
returns the lines to print.
"""

from __future__ import annotations

from pathlib import Path

from dassl.run_dir import BACKBONE_WRONG_FILE as BACKBONE_WRONG


def confusion_report(stage1: Path, stage2: Path) -> tuple[list[str], dict]:
    from tools.confusion import compare_runs, show_bank

    result = compare_runs.run(str(stage2 / BACKBONE_WRONG), str(stage2), out_dir=str(stage2))
    lines = [compare_runs.format_report(result, top=5)]
    bank = stage1 / "confusion_bank.pt"
    if bank.is_file():
        show_bank.main([str(bank), "--top", "5", "--png", str(stage1 / "confusion_bank.png")])
        lines.append(f"Confusion Bank heat-map: {stage1 / 'confusion_bank.png'}")
    lines.append("Before/after heat-maps: " + ", ".join(str(stage2 / n) for n in result.get("heatmaps", [])))
    return lines, result
