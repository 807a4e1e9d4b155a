"""PNGs of a counselor evaluation: the confusion matrix, and predicted vs gold shares.

matplotlib is imported inside the functions (headless Agg backend).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sweetiechat.eval.metrics import CounselorMetrics
from sweetiechat.metrics.plots import SHORT, _plt, _save
from sweetiechat.taxonomy import Strategy

__all__ = ["plot_confusion", "plot_shares"]


def plot_confusion(metrics: CounselorMetrics, path: Path) -> Path:
    """Confusion matrix, each gold row normalised to 1, with the counts written in the cells."""
    plt = _plt()
    counts = np.asarray(metrics.confusion, dtype=float)
    rows = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    names = [SHORT[s] for s in Strategy]
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    image = ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    for g in range(len(names)):
        for p in range(len(names)):
            color = "white" if rows[g, p] > 0.5 else "black"
            ax.text(p, g, f"{int(counts[g, p])}", ha="center", va="center", fontsize=8, color=color)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(
        f"{metrics.counselor} (n={metrics.n}): macro-F1 {100 * metrics.macro_f1:.1f}",
        fontsize=10,
    )
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of gold row")
    return _save(fig, path)


def plot_shares(metrics: CounselorMetrics, path: Path) -> Path:
    """Each strategy's share of the gold labels and of the predictions, side by side."""
    plt = _plt()
    gold, pred = metrics.gold_shares(), metrics.predicted_shares()
    x = np.arange(len(Strategy))
    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.bar(x - 0.2, [100 * gold[s] for s in Strategy], 0.4, label="gold")
    ax.bar(x + 0.2, [100 * pred[s] for s in Strategy], 0.4, label="predicted")
    ax.set_xticks(x, [SHORT[s] for s in Strategy], rotation=30, ha="right")
    ax.set_ylabel("share of turns (%)")
    bias = "unbounded" if metrics.preference_bias is None else f"{metrics.preference_bias:.2f}"
    ax.set_title(f"{metrics.counselor}: strategy shares (preference bias B = {bias})", fontsize=10)
    ax.legend()
    return _save(fig, path)
