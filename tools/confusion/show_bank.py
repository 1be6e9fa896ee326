"""Print the most confused pairs of a Confusion Bank and render its GT x prediction heat-map.

Example::

    python -m tools.confusion.show_bank output/.../seed1/confusion_bank.pt --top 10 --png bank.png
"""

from __future__ import annotations

import argparse
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from tools.confusion.heatmap import plot_confusion  # noqa: E402
from trainers.capt.bank import load_bank, pair_table  # noqa: E402

MATRICES = ("N_hard", "N_soft", "N")


def format_table(rows: list[dict]) -> str:
    header = (f"{'GT class':<20} {'predicted as':<20} {'hard':>6} {'soft':>8} {'score':>8} {'stable':>7} "
              f"{'cell':>5}")
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(f"{r['gt'][:20]:<20} {r['pred'][:20]:<20} {r['hard']:>6d} {r['soft']:>8.2f} "
                     f"{r['score']:>8.2f} {r['stable']:>7.2f} {r['cell_size']:>5d}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bank", help="a confusion_bank.pt file, or the stage-1 run directory holding it")
    parser.add_argument("--top", type=int, default=10, help="number of pairs to print (default 10)")
    parser.add_argument("--by", choices=MATRICES, default="N_hard", help="ranking / heat-map matrix")
    parser.add_argument("--png", default="", help="heat-map output (default: <bank dir>/confusion_bank.png)")
    parser.add_argument("--no-png", action="store_true", help="print the table only")
    args = parser.parse_args(argv)
    path = os.path.join(args.bank, "confusion_bank.pt") if os.path.isdir(args.bank) else args.bank
    bank = load_bank(path)
    n = len(bank["labels"])
    wrong = int((bank["preds"] != bank["labels"]).sum())
    print(f"Confusion Bank {path}: {n} samples, {len(bank['classnames'])} classes, {wrong} hard errors "
          f"({100.0 * wrong / max(n, 1):.2f}%)")
    print(format_table(pair_table(bank, args.top, args.by)))
    if not args.no_png:
        out = args.png or os.path.join(os.path.dirname(os.path.abspath(path)), "confusion_bank.png")
        plot_confusion(bank[args.by].numpy(), bank["classnames"], f"Confusion Bank ({args.by})", out)
        print(f"Heat-map written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
