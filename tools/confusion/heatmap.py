"""GT x predicted heat-maps (off-diagonal counts) as PNG files, with matplotlib's file backend.

A full C x C map costs time and memory that grow as C^2 (ImageNet's 500 base classes would need tens of GB),
so above :data:`MAX_CLASSES` classes only the most confused classes are drawn, in a figure of fixed size.
"""

from __future__ import annotations

import os

import numpy as np

from dassl.atomic_io import atomic_path

# Above this many classes only the MAX_CLASSES most confused ones are drawn (labels stay readable and the
# figure size, hence time and memory, no longer depends on the class count).
MAX_CLASSES = 40
# Cell labels (the counts) are written up to this many classes.
ANNOTATE_CLASSES = 25


def _off_diagonal(matrix) -> np.ndarray:
    m = np.asarray(matrix, dtype=float)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"confusion matrix must be square [C, C], got shape {m.shape}")
    m = m.copy()
    np.fill_diagonal(m, 0.0)
    return m


def top_confused_classes(matrices, k: int = MAX_CLASSES) -> list[int]:
    """Indices (ascending) of the ``k`` classes with the most off-diagonal mass, as ground truth or as
    prediction, summed over ``matrices`` (several maps drawn side by side then show the same classes)."""
    total = None
    for matrix in matrices:
        m = _off_diagonal(matrix)
        total = m if total is None else total + m
    if total is None:
        raise ValueError("top_confused_classes needs at least one matrix")
    n = total.shape[0]
    if n <= k:
        return list(range(n))
    score = total.sum(axis=0) + total.sum(axis=1)
    # stable: ties keep the lower class index
    chosen = np.argsort(-score, kind="stable")[:k]
    return sorted(int(i) for i in chosen)


def plot_confusion(matrix, classnames: list[str], title: str, path: str, vmax: float | None = None,
                   annotate: bool = True, classes: list[int] | None = None) -> str:
    """Write a heat-map of ``matrix`` [C, C] (rows: ground truth, columns: wrong prediction) to ``path``.

    ``classes`` picks the rows/columns to draw (default: all up to :data:`MAX_CLASSES`, otherwise
    :func:`top_confused_classes`); the title then says how many of the C classes are shown.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    full = _off_diagonal(matrix)
    if full.shape[0] != len(classnames):
        raise ValueError(f"confusion matrix has {full.shape[0]} classes but {len(classnames)} class names")
    keep = top_confused_classes([full]) if classes is None else [int(i) for i in classes]
    if len(set(keep)) != len(keep) or not all(0 <= i < full.shape[0] for i in keep):
        raise ValueError(f"classes must be distinct indices in [0, {full.shape[0]}), got {keep}")
    if len(keep) < full.shape[0]:
        title = f"{title} ({len(keep)} most confused of {full.shape[0]} classes)"
    m = full[np.ix_(keep, keep)]
    names = [classnames[i] for i in keep]
    np.fill_diagonal(m, np.nan)
    n = len(names)
    side = max(4.0, 0.45 * min(n, MAX_CLASSES) + 2.5)
    fig, ax = plt.subplots(figsize=(side + 1.0, side))
    cmap = matplotlib.colormaps["Reds"].copy()
    cmap = cmap.with_extremes(bad="#dddddd")
    top = vmax if vmax is not None else (np.nanmax(m) if np.isfinite(m).any() else 1.0)
    im = ax.imshow(m, cmap=cmap, vmin=0, vmax=max(top, 1e-9))
    ax.set_xticks(range(n), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n), names, fontsize=8)
    ax.set_xlabel("predicted (wrong) class")
    ax.set_ylabel("ground-truth class")
    ax.set_title(title, fontsize=10)
    if annotate and n <= ANNOTATE_CLASSES:
        for g in range(n):
            for c in range(n):
                if g != c and m[g, c] > 0:
                    value = f"{m[g, c]:.0f}" if float(m[g, c]).is_integer() else f"{m[g, c]:.1f}"
                    ax.text(c, g, value, ha="center", va="center", fontsize=7,
                            color="white" if m[g, c] > 0.6 * top else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=120, format=os.path.splitext(path)[1][1:] or "png")
    finally:
        plt.close(fig)
    return path
