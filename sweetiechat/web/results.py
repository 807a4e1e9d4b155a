"""Results of a task from the annotators' answers: win/tie/loss, Fleiss' kappa between
annotators, agreement with an imported LLM judge, mean ratings, and the judge's plot.

Kappa per dimension uses the items answered by the most common number (>= 2) of annotators,
since Fleiss' kappa needs the same number of ratings per item.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweetiechat.errors import UserError
from sweetiechat.eval.agreement import (
    WinTieLoss,
    category_table,
    cohen_kappa,
    fleiss_kappa,
    percent_agreement,
    win_tie_loss,
)
from sweetiechat.web.dims import DATASET_DIMENSIONS, PAIRWISE_DIMENSIONS, RATING_SCALE
from sweetiechat.web.store import Store

__all__ = [
    "ANNOTATORS",
    "JudgeAgreement",
    "TaskResults",
    "judge_style_summary",
    "plot_task",
    "task_results",
]


@dataclass(frozen=True)
class JudgeAgreement:
    """Annotators' majority against the LLM judge's majority on one dimension."""

    items: int
    """Items both answered (ties within a side count as a tie)."""
    agreement: float
    """Share of those items with the same winner."""
    kappa: float
    """Cohen's kappa between the two."""


@dataclass
class TaskResults:
    """Everything the results page and the export show for one task."""

    kind: str
    annotators: int
    answered_items: int
    win_tie_loss: dict[str, WinTieLoss] = field(default_factory=dict)
    """Pairwise: system A's record per dimension, over all annotators' answers."""
    kappa: dict[str, tuple[float, int, int]] = field(default_factory=dict)
    """Per dimension: (Fleiss' kappa, items used, annotators per item); NaN when < 2."""
    judge: dict[str, JudgeAgreement] = field(default_factory=dict)
    """Pairwise: agreement with the imported LLM judgments, per dimension."""
    mean_rating: dict[str, float] = field(default_factory=dict)
    """Dataset: mean 1-5 rating per dimension."""


def _majority(labels: list[str]) -> str:
    counts = Counter(labels).most_common()
    if len(counts) > 1 and counts[0][1] == counts[1][1]:
        return "tie"
    return counts[0][0]


def _kappa(per_item: dict[Any, list[Any]], categories: list[Any]) -> tuple[float, int, int]:
    sizes = Counter(len(v) for v in per_item.values() if len(v) >= 2)
    if not sizes:
        return math.nan, 0, 0
    n = max(sizes, key=lambda s: (sizes[s], s))
    rows = [v for v in per_item.values() if len(v) == n]
    return fleiss_kappa(category_table(rows, categories)), len(rows), n


def task_results(store: Store, task_id: int) -> TaskResults:
    """Compute a task's results from the database."""
    task = store.task(task_id)
    if task is None:
        raise KeyError(task_id)
    if task.kind == "pairwise":
        rows = store.rows(
            "SELECT a.annotator_id, i.key, a.dimension, a.winner FROM answers a "
            "JOIN items i ON i.id = a.item_id WHERE i.task_id = ?",
            (task_id,),
        )
    else:
        rows = store.rows(
            "SELECT r.annotator_id, i.key, r.dimension, r.rating AS winner FROM ratings r "
            "JOIN items i ON i.id = r.item_id WHERE i.task_id = ?",
            (task_id,),
        )
    out = TaskResults(
        kind=task.kind,
        annotators=len({r["annotator_id"] for r in rows}),
        answered_items=len({r["key"] for r in rows}),
    )
    dims = PAIRWISE_DIMENSIONS if task.kind == "pairwise" else DATASET_DIMENSIONS
    cats: list[Any] = ["a", "b", "tie"] if task.kind == "pairwise" else list(RATING_SCALE)
    for dim in dims:
        per_item: dict[str, list[Any]] = defaultdict(list)
        for r in rows:
            if r["dimension"] == dim:
                per_item[r["key"]].append(r["winner"])
        out.kappa[dim] = _kappa(per_item, cats)
        values = [v for vs in per_item.values() for v in vs]
        if task.kind == "pairwise":
            out.win_tie_loss[dim] = win_tie_loss(values)
        elif values:
            out.mean_rating[dim] = sum(values) / len(values)
    if task.kind == "pairwise":
        out.judge = _judge_agreement(store, task_id, rows)
    return out


def _judge_agreement(
    store: Store, task_id: int, human: list[dict[str, Any]]
) -> dict[str, JudgeAgreement]:
    llm = store.rows(
        "SELECT item_key, dimension, winner FROM judgments WHERE task_id = ? AND winner IS NOT "
        "NULL",
        (task_id,),
    )
    if not llm:
        return {}
    out = {}
    for dim in PAIRWISE_DIMENSIONS:
        people: dict[str, list[str]] = defaultdict(list)
        model: dict[str, list[str]] = defaultdict(list)
        for r in human:
            if r["dimension"] == dim:
                people[r["key"]].append(r["winner"])
        for r in llm:
            if r["dimension"] == dim:
                model[r["item_key"]].append(r["winner"])
        keys = sorted(set(people) & set(model))
        first = [_majority(people[k]) for k in keys]
        second = [_majority(model[k]) for k in keys]
        out[dim] = JudgeAgreement(
            len(keys), percent_agreement(first, second), cohen_kappa(first, second)
        )
    return out


#: The judge name the annotators' pooled answers get in the judge's summaries and plots.
ANNOTATORS = "annotators"


def judge_style_summary(store: Store, task_id: int) -> dict[str, Any]:
    """The LLM judge's summary (:mod:`sweetiechat.eval.judge_summary`) of a task: the
    annotators' answers pooled as one judge, next to each imported LLM judge."""
    from sweetiechat.eval.judge import Judgment
    from sweetiechat.eval.judge_dataset import Rating
    from sweetiechat.eval.judge_summary import summarize_pairwise, summarize_ratings

    task = store.task(task_id)
    if task is None:
        raise KeyError(task_id)
    if task.kind == "dataset":
        rows = store.rows(
            "SELECT i.key, r.dimension, r.rating FROM ratings r JOIN items i ON i.id = r.item_id "
            "WHERE i.task_id = ?",
            (task_id,),
        )
        ratings = [
            Rating(dialogue=r["key"], judge=ANNOTATORS, run=1, dimension=r["dimension"],
                   rating=r["rating"])
            for r in rows
        ]  # fmt: skip
        return summarize_ratings(ratings, DATASET_DIMENSIONS)
    human = store.rows(
        "SELECT i.key, a.dimension, a.ord, a.answer, a.winner FROM answers a "
        "JOIN items i ON i.id = a.item_id WHERE i.task_id = ?",
        (task_id,),
    )
    llm = store.rows(
        "SELECT item_key AS key, judge, run, dimension, ord, answer, winner FROM judgments "
        "WHERE task_id = ? AND ord IS NOT NULL",
        (task_id,),
    )
    judgments = [
        Judgment(item=r["key"], judge=r.get("judge", ANNOTATORS), run=r.get("run", 1),
                 dimension=r["dimension"], order=r["ord"], answer=r["answer"],
                 winner=r["winner"])
        for r in [*human, *llm]
    ]  # fmt: skip
    a = Path(task.source_a).stem if task.source_a else "A"
    b = Path(task.source_b).stem if task.source_b else "B"
    return summarize_pairwise(judgments, PAIRWISE_DIMENSIONS, a=a, b=b)


def plot_task(store: Store, task_id: int, path: Path) -> Path:
    """The LLM judge's plot for a task: stacked win/tie/loss bars per dimension (pairwise),
    or the 1-5 rating distribution per dimension (dataset), one panel per judge (the
    annotators pooled, and each imported LLM judge)."""
    from sweetiechat.eval.judge_summary import plot_ratings, plot_win_tie_loss

    summary = judge_style_summary(store, task_id)
    if not summary["judges"]:
        raise UserError("nothing to plot yet: no answers")
    if "ratings" in summary:
        return plot_ratings(summary, path)
    return plot_win_tie_loss(summary, path)
