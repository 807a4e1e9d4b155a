"""Matplotlib PNGs for the analysis report (headless: the Agg backend)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sweetiechat.metrics.similarity import SimilarityHistogram
from sweetiechat.metrics.strategy import StrategyAnalysis
from sweetiechat.taxonomy import Strategy

__all__ = [
    "plot_distinct_strategies",
    "plot_similarity",
    "plot_strategy_progress",
    "plot_strategy_shares",
]

SHORT = {
    Strategy.QUESTION: "Question",
    Strategy.RESTATEMENT: "Restatement",
    Strategy.REFLECTION: "Reflection",
    Strategy.SELF_DISCLOSURE: "Self-discl.",
    Strategy.AFFIRMATION: "Affirmation",
    Strategy.SUGGESTIONS: "Suggestions",
    Strategy.INFORMATION: "Information",
    Strategy.OTHERS: "Others",
}


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    """Save atomically: a crash never leaves a half-written PNG under ``path``."""
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, dpi=120, format="png")
    _plt().close(fig)
    tmp.replace(path)
    return path


def plot_strategy_shares(
    labels: Sequence[str], analyses: Sequence[StrategyAnalysis], path: Path
) -> Path:
    """Grouped bars: each strategy's share, one bar per dataset."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 4.5))
    x = np.arange(len(Strategy))
    width = 0.8 / max(len(labels), 1)
    for i, (label, a) in enumerate(zip(labels, analyses, strict=True)):
        shares = a.shares()
        ax.bar(
            x + i * width - 0.4 + width / 2,
            [100 * shares[s.value] for s in Strategy],
            width,
            label=label,
        )
    ax.set_xticks(x, [SHORT[s] for s in Strategy], rotation=20)
    ax.set_ylabel("share of supporter turns (%)")
    ax.set_title("Strategy shares")
    ax.legend()
    return _save(fig, path)


def plot_strategy_progress(
    labels: Sequence[str], analyses: Sequence[StrategyAnalysis], path: Path
) -> Path:
    """Stacked bars per dataset: strategy shares in each of the 6 progress intervals."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(labels), figsize=(5.5 * len(labels), 4.5), squeeze=False)
    colors = plt.get_cmap("tab10").colors
    for ax, label, a in zip(axes[0], labels, analyses, strict=True):
        shares = a.interval_shares()
        bottom = np.zeros(len(shares))
        x = np.arange(1, len(shares) + 1)
        for j, s in enumerate(Strategy):
            values = np.array([100 * interval[s.value] for interval in shares])
            ax.bar(x, values, bottom=bottom, color=colors[j], label=SHORT[s])
            bottom += values
        ax.set_xticks(x, [f"{k}/{len(shares)}" for k in x])
        ax.set_xlabel("conversation progress")
        ax.set_ylabel("share (%)")
        ax.set_title(label)
    axes[0][-1].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    return _save(fig, path)


def plot_distinct_strategies(
    labels: Sequence[str], analyses: Sequence[StrategyAnalysis], path: Path
) -> Path:
    """Histogram: share of dialogues by number of distinct strategies used."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / max(len(labels), 1)
    x = np.arange(1, len(Strategy) + 1)
    for i, (label, a) in enumerate(zip(labels, analyses, strict=True)):
        total = sum(a.distinct_per_dialogue.values()) or 1
        ax.bar(
            x + i * width - 0.4 + width / 2,
            [100 * a.distinct_per_dialogue[int(k)] / total for k in x],
            width,
            label=label,
        )
    ax.set_xticks(x)
    ax.set_xlabel("distinct strategies in a dialogue")
    ax.set_ylabel("dialogues (%)")
    ax.set_title("Distinct strategies per dialogue")
    ax.legend()
    return _save(fig, path)


def _hist_line(ax: Any, hist: SimilarityHistogram, label: str, color: Any, bins: int = 50) -> None:
    counts = hist.counts.reshape(bins, -1).sum(axis=1)
    density = counts / max(counts.sum(), 1) * 100
    centers = (np.arange(bins) + 0.5) / bins
    ax.step(
        centers,
        density,
        where="mid",
        color=color,
        label=f"{label} (mean {hist.mean:.3f}, median {hist.median:.3f})",
    )
    ax.axvline(hist.mean, color=color, linestyle="--", linewidth=1)
    ax.axvline(hist.median, color=color, linestyle=":", linewidth=1)


def plot_similarity(
    panels: dict[str, dict[str, SimilarityHistogram]],
    path: Path,
    *,
    title: str,
    xlabel: str = "TF-IDF cosine similarity",
    ylabel: str = "pairs (%)",
) -> Path | None:
    """One panel per key of ``panels``; in each, one histogram line per dataset, with its
    mean (dashed) and median (dotted). Histograms without pairs are left out."""
    panels = {k: {d: h for d, h in v.items() if h.pairs} for k, v in panels.items()}
    panels = {k: v for k, v in panels.items() if v}
    if not panels:
        return None
    plt = _plt()
    cols = min(len(panels), 2)
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6.5 * cols, 4.2 * rows), squeeze=False)
    colors = plt.get_cmap("tab10").colors
    flat = list(axes.ravel())
    for ax in flat[len(panels) :]:
        ax.set_visible(False)
    for ax, (name, hists) in zip(flat, panels.items(), strict=False):
        for i, (label, hist) in enumerate(hists.items()):
            _hist_line(ax, hist, label, colors[i % 10])
        ax.set_xlim(0, 1)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(name)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)
