"""Score an agent's generations per run and mode, summarise them as mean ± std over runs, and
show them like the paper's table (percentages), next to the paper's own rows.

The metrics are :func:`sweetiechat.metrics.response.score_responses`'s: corpus BLEU-2/4,
ROUGE-2/L, Distinct-2/3 (per response, averaged), METEOR and BERTScore (offline default
encoder: all-MiniLM-L6-v2, so not comparable in absolute terms with the paper's
roberta-large BERTScore). rich and matplotlib are imported inside the functions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

from sweetiechat.eval.agent import MODES, GenerationRecord

__all__ = [
    "COLUMNS",
    "PUBLISHED",
    "markdown_table",
    "plot_summary",
    "results_table",
    "score_run",
    "summarize",
]

#: metrics.json key -> column title, in the paper's order.
COLUMNS: dict[str, str] = {
    "bleu2": "BLEU-2",
    "bleu4": "BLEU-4",
    "rouge2": "ROUGE-2",
    "rougeL": "ROUGE-L",
    "distinct2": "Dist-2",
    "distinct3": "Dist-3",
    "meteor": "METEOR",
    "bertscore_f1": "BERTScore",
}

#: The rows the paper reports on ESConv test (percentages; Llama-3 tokenizer, roberta-large
#: BERTScore). Ye et al., COLING 2025.
PUBLISHED: list[dict[str, Any]] = [
    {
        "system": "paper: Llama-3-8B untuned",
        "mode": "generated",
        "bleu2": 3.62,
        "bertscore_f1": 83.80,
    },
    {
        "system": "paper: SweetieChat 8B",
        "mode": "generated",
        "bleu2": 6.27,
        "bleu4": 2.74,
        "rougeL": 13.23,
        "bertscore_f1": 85.81,
    },
]


def score_run(
    records: Sequence[GenerationRecord],
    tokenizer: Any,
    *,
    bertscore_model: str | None,
    metrics: Collection[str],
    on_step: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The response metrics of one run and mode (fractions in 0-1), plus counts."""
    from sweetiechat.metrics.response import score_responses

    ordered = sorted(records, key=lambda r: (r.dialogue_id, r.turn))
    result = score_responses(
        [r.response or " " for r in ordered],
        [r.reference for r in ordered],
        tokenizer,
        bertscore_model=bertscore_model,
        metrics=metrics,
        on_step=on_step,
    )
    result["empty_responses"] = sum(not r.response.strip() for r in ordered)
    result["tagged"] = sum(r.strategy is not None for r in ordered)
    return result


def _mean_std(values: Sequence[float]) -> dict[str, float | int | None]:
    if not values:
        return {"mean": None, "std": None, "n": 0}
    mean = sum(values) / len(values)
    std = (
        math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
        if len(values) > 1
        else None
    )
    return {"mean": mean, "std": std, "n": len(values)}


def summarize(runs: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per mode and metric: mean, sample standard deviation (``None`` for one run) and runs.

    ``runs`` are metrics.json's ``runs`` entries (``mode``, ``metrics``, ``generation``).
    """
    summary: dict[str, dict[str, Any]] = {}
    for mode in MODES:
        of_mode = [r for r in runs if r["mode"] == mode and r.get("metrics")]
        if not of_mode:
            continue
        row: dict[str, Any] = {}
        for key in COLUMNS:
            values = [r["metrics"][key] for r in of_mode if r["metrics"].get(key) is not None]
            row[key] = _mean_std(values)
        rates = [
            r["generation"]["responses_per_s"]
            for r in of_mode
            if r.get("generation", {}).get("responses_per_s")
        ]
        row["responses_per_s"] = _mean_std(rates)
        row["responses"] = of_mode[0]["metrics"].get("n")
        summary[mode] = row
    return summary


def _cell(stat: dict[str, Any] | float | None, scale: float = 100.0) -> str:
    if stat is None:
        return "–"
    if not isinstance(stat, dict):
        return f"{stat:.2f}"
    if stat.get("mean") is None:
        return "–"
    text = f"{scale * stat['mean']:.2f}"
    if stat.get("std") is not None:
        text += f" ± {scale * stat['std']:.2f}"
    return text


def _rows(
    reports: Sequence[tuple[str, dict[str, Any]]], published: bool
) -> tuple[list[str], list[list[str]]]:
    header = ["system", "context", *COLUMNS.values(), "resp/s"]
    rows = []
    for label, metrics in reports:
        for mode, row in metrics.get("summary", {}).items():
            cells = [_cell(row.get(k)) for k in COLUMNS]
            rate = row.get("responses_per_s") or {}
            cells.append(f"{rate['mean']:.2f}" if rate.get("mean") else "–")
            rows.append([label, mode, *cells])
    if published:
        for paper in PUBLISHED:
            cells = [_cell(paper.get(k), 1.0) for k in COLUMNS]
            rows.append([paper["system"], paper["mode"], *cells, "–"])
    return header, rows


def results_table(
    reports: Sequence[tuple[str, dict[str, Any]]], *, published: bool = True, title: str = ""
) -> Any:
    """A rich table, one column per system and context mode (so it fits a terminal), one row
    per metric in % (mean ± std), and responses per second."""
    from rich.table import Table

    header, rows = _rows(reports, published)
    table = Table(title=title or "Response quality on ESConv (%, mean ± std over runs)")
    table.add_column("metric")
    for row in rows:
        table.add_column(f"{row[0]}\n{row[1]} context", justify="right")
    for i, name in enumerate(header[2:], 2):
        table.add_row(name, *(row[i] for row in rows))
    return table


def markdown_table(reports: Sequence[tuple[str, dict[str, Any]]], *, published: bool = True) -> str:
    """The same table as Markdown (for docs)."""
    header, rows = _rows(reports, published)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def plot_summary(label: str, metrics: dict[str, Any], path: Path) -> Path:
    """A bar chart of every metric, the two context modes side by side, with std whiskers."""
    from sweetiechat.metrics.plots import _plt, _save

    plt = _plt()
    summary = metrics.get("summary", {})
    keys = list(COLUMNS)
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / max(len(summary), 1)
    for i, (mode, row) in enumerate(summary.items()):
        means = [100 * (row[k]["mean"] or 0) if row.get(k) else 0 for k in keys]
        stds = [100 * (row[k]["std"] or 0) if row.get(k) else 0 for k in keys]
        xs = [j + (i - (len(summary) - 1) / 2) * width for j in range(len(keys))]
        ax.bar(xs, means, width, yerr=stds, capsize=2, label=f"{mode} context")
    ax.set_xticks(range(len(keys)), [COLUMNS[k] for k in keys], rotation=30, ha="right")
    ax.set_ylabel("%")
    ax.set_title(f"{label}: response quality on ESConv", fontsize=10)
    ax.legend(fontsize=8)
    return _save(fig, path)
