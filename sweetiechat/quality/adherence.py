"""Strategy adherence: the share of supporter turns whose recognized strategy (by a
:class:`~sweetiechat.quality.recognizer.StrategyRecognizer`) matches the assigned one,
overall and per assigned strategy.

>>> report = adherence(dialogues, StrategyRecognizer.load("runs/rec"))  # doctest: +SKIP
>>> report.overall, report.per_strategy["Question"]                     # doctest: +SKIP
(0.61, 0.9)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sweetiechat.quality.recognizer import StrategyRecognizer
from sweetiechat.taxonomy import Strategy
from sweetiechat.types import Dialogue

__all__ = ["AdherenceReport", "adherence"]


@dataclass(frozen=True)
class AdherenceReport:
    """How often supporters used the strategy they were assigned."""

    overall: float | None
    """Share of assessed supporter turns whose recognized strategy is the assigned one
    (None when no turn was assessed)."""
    per_strategy: dict[str, float | None]
    """The same share per assigned strategy (None for a strategy never assigned)."""
    counts: dict[str, int]
    """Assessed supporter turns per assigned strategy."""
    matched: dict[str, int]
    """Of those, how many were recognized as the assigned strategy."""
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)
    """assigned -> recognized -> count."""
    turns: int = 0
    """Supporter turns assessed (those with an assigned strategy)."""
    dialogues: int = 0
    """Dialogues read."""
    recognizer: str = ""
    """The recognizer's name."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return {
            "overall": self.overall,
            "per_strategy": dict(self.per_strategy),
            "counts": dict(self.counts),
            "matched": dict(self.matched),
            "confusion": {k: dict(v) for k, v in self.confusion.items()},
            "turns": self.turns,
            "dialogues": self.dialogues,
            "recognizer": self.recognizer,
        }


def adherence(
    dialogues: Iterable[Dialogue],
    recognizer: StrategyRecognizer,
    *,
    batch: int = 64,
    advance: Callable[[int], None] | None = None,
) -> AdherenceReport:
    """Recognize every supporter turn that has an assigned strategy and compare.

    Args:
        dialogues: dialogues whose supporter turns carry their assigned strategy.
        recognizer: the strategy recognizer.
        batch: supporter turns per prediction call.
        advance: called with the number of turns done after each batch (progress).
    """
    items = []
    n_dialogues = 0
    for d in dialogues:
        n_dialogues += 1
        items += [
            (d, i)
            for i, t in enumerate(d.turns)
            if t.role == "supporter" and t.strategy is not None
        ]
    counts: Counter[str] = Counter()
    matched: Counter[str] = Counter()
    confusion: dict[str, Counter[str]] = {}
    for start in range(0, len(items), batch):
        chunk = items[start : start + batch]
        for (d, i), (got, _) in zip(chunk, recognizer.predict(chunk), strict=True):
            assigned = d.turns[i].strategy
            assert assigned is not None
            counts[assigned.value] += 1
            matched[assigned.value] += got is assigned
            confusion.setdefault(assigned.value, Counter())[got.value] += 1
        if advance is not None:
            advance(len(chunk))
    total = sum(counts.values())
    return AdherenceReport(
        overall=sum(matched.values()) / total if total else None,
        per_strategy={
            s.value: (matched[s.value] / counts[s.value] if counts[s.value] else None)
            for s in Strategy
        },
        counts={s.value: counts[s.value] for s in Strategy},
        matched={s.value: matched[s.value] for s in Strategy},
        confusion={k: dict(v) for k, v in confusion.items()},
        turns=total,
        dialogues=n_dialogues,
        recognizer=recognizer.name,
    )
