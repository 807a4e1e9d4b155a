"""Scores of a strategy predictor: accuracy, macro/weighted F1, per-strategy scores, bias B.

:func:`score_predictions` turns gold and predicted strategies into a :class:`CounselorMetrics`
(scikit-learn computes the F1s). All fractions are in 0–1.

>>> from sweetiechat.taxonomy import Strategy as S
>>> m = score_predictions([S.QUESTION, S.OTHERS], [S.QUESTION, S.QUESTION], counselor="demo")
>>> m.accuracy, m.per_strategy[S.QUESTION].precision, m.per_strategy[S.OTHERS].support
(0.5, 0.5, 1)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from sweetiechat.eval.bias import bradley_terry_strengths, confusion_counts
from sweetiechat.taxonomy import Strategy

__all__ = ["CounselorMetrics", "StrategyScore", "score_predictions"]

_ORDER = list(Strategy)
_INDEX = {s: i for i, s in enumerate(_ORDER)}


class StrategyScore(BaseModel):
    """Precision, recall and F1 of one strategy (fractions), and its gold count."""

    model_config = ConfigDict(frozen=True)

    precision: float
    """Of the turns predicted as this strategy, the share whose gold is this strategy."""
    recall: float
    """Of the turns whose gold is this strategy, the share predicted as it."""
    f1: float
    """Harmonic mean of precision and recall (0 when both are 0)."""
    support: int
    """Number of turns whose gold is this strategy."""
    predicted: int
    """Number of turns predicted as this strategy."""
    strength: float | None
    """Its Bradley–Terry preference strength (mean 1 over the 8; ``None`` when undefined)."""


class CounselorMetrics(BaseModel):
    """What ``metrics.json`` holds: the scores of one counselor on one set of examples."""

    model_config = ConfigDict(frozen=True)

    counselor: str
    """The counselor's name (its ``name`` attribute)."""
    n: int
    """Number of examples (supporter turns) scored."""
    accuracy: float
    """Share of turns whose prediction equals the gold strategy."""
    macro_f1: float
    """Unweighted mean of the strategies' F1 (those that occur in gold or predictions)."""
    weighted_f1: float
    """Mean of the strategies' F1, weighted by gold support."""
    preference_bias: float | None
    """Kang et al.'s B: standard deviation of the Bradley–Terry strengths (lower is better;
    ``None`` when unbounded: some strategy is predicted for other gold strategies but never
    loses to one, e.g. a counselor that always answers "Question"; see
    :mod:`sweetiechat.eval.bias`)."""
    per_strategy: dict[Strategy, StrategyScore]
    """Scores of each strategy, in ESConv's order."""
    confusion: list[list[int]]
    """``confusion[g][p]``: turns with gold ``g`` predicted as ``p`` (ESConv's order)."""
    fallbacks: int = 0
    """Decisions where the counselor's answer was unusable and it fell back to a default."""
    decisions_per_second: float | None = None
    """Decisions per wall-clock second while predicting (``None`` when nothing ran)."""
    seconds: float | None = None
    """Wall-clock seconds spent predicting."""
    extra: dict[str, str | float | int | None] = Field(default_factory=dict)
    """Free-form notes from the caller (data file, split, settings)."""

    def gold_shares(self) -> dict[Strategy, float]:
        """Each strategy's share of the gold labels."""
        return {s: self.per_strategy[s].support / max(self.n, 1) for s in Strategy}

    def predicted_shares(self) -> dict[Strategy, float]:
        """Each strategy's share of the predictions."""
        return {s: self.per_strategy[s].predicted / max(self.n, 1) for s in Strategy}


def score_predictions(
    gold: Sequence[Strategy],
    pred: Sequence[Strategy],
    *,
    counselor: str,
    fallbacks: int = 0,
    seconds: float | None = None,
    decided: int | None = None,
    extra: dict[str, str | float | int | None] | None = None,
) -> CounselorMetrics:
    """Score predicted strategies against gold ones.

    Args:
        gold: the gold strategy of each example.
        pred: the predicted strategy of each example, in the same order.
        counselor: the counselor's name, recorded in the result.
        fallbacks: how many predictions were fallbacks.
        seconds: wall-clock seconds the predictions took.
        decided: how many predictions were made in those seconds (default: all of them).
        extra: notes recorded as they are.

    Raises:
        ValueError: no examples, or the two sequences differ in length.
    """
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

    if not gold:
        raise ValueError("no examples to score")
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold labels but {len(pred)} predictions")
    y_true = [_INDEX[Strategy(g)] for g in gold]
    y_pred = [_INDEX[Strategy(p)] for p in pred]
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=list(range(len(_ORDER))), zero_division=0
    )
    # Macro and weighted F1 over the strategies that occur (gold or predicted), as
    # scikit-learn's default and Kang et al.'s script do; on ESConv test all 8 occur.
    labels = sorted(set(y_true) | set(y_pred))
    confusion = confusion_counts(y_true, y_pred, len(_ORDER))
    strengths = bradley_terry_strengths(confusion.T)
    defined = bool(all(math.isfinite(x) for x in strengths))
    decided = len(gold) if decided is None else decided
    per_strategy = {
        s: StrategyScore(
            precision=float(precision[i]),
            recall=float(recall[i]),
            f1=float(f1[i]),
            support=int(support[i]),
            predicted=int(confusion[:, i].sum()),
            strength=float(strengths[i]) if defined else None,
        )
        for i, s in enumerate(_ORDER)
    }
    return CounselorMetrics(
        counselor=counselor,
        n=len(gold),
        accuracy=float(accuracy_score(y_true, y_pred)),
        macro_f1=float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        weighted_f1=float(
            f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)
        ),
        preference_bias=float(strengths.std()) if defined else None,
        per_strategy=per_strategy,
        confusion=confusion.tolist(),
        fallbacks=fallbacks,
        decisions_per_second=decided / seconds if seconds and decided else None,
        seconds=seconds,
        extra=dict(extra or {}),
    )
