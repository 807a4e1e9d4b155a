"""Strategy analysis (docs/method.md, "Strategy analysis"): shares, shares across 6 intervals
of conversation progress, and the number of distinct strategies per dialogue. All accumulate in
one streaming pass.

A supporter turn at index ``i`` of a dialogue with ``n`` turns falls in progress interval
``floor(6 * i / n)``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sweetiechat.taxonomy import Strategy
from sweetiechat.types import Dialogue

__all__ = ["INTERVALS", "StrategyAnalysis"]

INTERVALS = 6


@dataclass
class StrategyAnalysis:
    """Accumulates strategy statistics over dialogues (``add`` each, then read)."""

    intervals: int = INTERVALS
    counts: Counter[Strategy] = field(default_factory=Counter)
    by_interval: list[Counter[Strategy]] = field(default_factory=list)
    distinct_per_dialogue: Counter[int] = field(default_factory=Counter)
    dialogues_with_strategies: int = 0

    def __post_init__(self) -> None:
        if not self.by_interval:
            self.by_interval = [Counter() for _ in range(self.intervals)]

    def add(self, dialogue: Dialogue) -> None:
        """Count one dialogue's supporter strategies."""
        n = len(dialogue.turns)
        seen: set[Strategy] = set()
        for i, turn in enumerate(dialogue.turns):
            if turn.strategy is None:
                continue
            self.counts[turn.strategy] += 1
            self.by_interval[min(self.intervals * i // n, self.intervals - 1)][turn.strategy] += 1
            seen.add(turn.strategy)
        if seen:
            self.dialogues_with_strategies += 1
            self.distinct_per_dialogue[len(seen)] += 1

    @property
    def has_strategies(self) -> bool:
        """False when no supporter turn carries a strategy."""
        return bool(self.counts)

    def shares(self) -> dict[str, float]:
        """Strategy -> share of labelled supporter turns."""
        total = sum(self.counts.values())
        return {s.value: (self.counts[s] / total if total else 0.0) for s in Strategy}

    def interval_shares(self) -> list[dict[str, float]]:
        """Per progress interval, strategy -> share within that interval."""
        out = []
        for counter in self.by_interval:
            total = sum(counter.values())
            out.append({s.value: (counter[s] / total if total else 0.0) for s in Strategy})
        return out

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        n = self.dialogues_with_strategies
        mean = sum(k * v for k, v in self.distinct_per_dialogue.items()) / n if n else None
        return {
            "labelled_turns": sum(self.counts.values()),
            "counts": {s.value: self.counts[s] for s in Strategy},
            "shares": self.shares(),
            "interval_shares": self.interval_shares(),
            "distinct_per_dialogue": {
                str(k): v for k, v in sorted(self.distinct_per_dialogue.items())
            },
            "mean_distinct_per_dialogue": mean,
        }
