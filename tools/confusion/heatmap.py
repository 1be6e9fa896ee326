"""GT x predicted heat-maps (off-diagonal counts) as PNG files, with matplotlib's file backend."""

from __future__ import annotations

import os
import tempfile

import numpy as np


def plot_confusion(matrix, classnames: list[str], title: str, path: str, vmax: float | None = None,
                   annotate: bool = True) -> str:
    """Write a heat-map of ``matrix`` [C, C] (rows: ground truth, columns: wrong prediction) to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = np.asarray(matrix, dtype=float).copy()
    np.fill_diagonal(m, np.nan)
    n = len(classnames)
    side = max(4.0, 0.45 * n + 2.5)
    fig, ax = plt.subplots(figsize=(side + 1.0, side))
    cmap = matplotlib.colormaps["Reds"].copy()
    cmap = cmap.with_extremes(bad="#dddddd")
    top = vmax if vmax is not None else (np.nanmax(m) if np.isfinite(m).any() else 1.0)
    im = ax.imshow(m, cmap=cmap, vmin=0, vmax=max(top, 1e-9))
    ax.set_xticks(range(n), classnames, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n), classnames, fontsize=8)
    ax.set_xlabel("predicted (wrong) class")
    ax.set_ylabel("ground-truth class")
    ax.set_title(title, fontsize=10)
    if annotate and n <= 25:
        for g in range(n):
            for c in range(n):
                if g != c and m[g, c] > 0:
                    value = f"{m[g, c]:.0f}" if float(m[g, c]).is_integer() else f"{m[g, c]:.1f}"
                    ax.text(c, g, value, ha="center", va="center", fontsize=7,
                            color="white" if m[g, c] > 0.6 * top else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".png", dir=folder)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=120)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.remove(tmp)
    return path
