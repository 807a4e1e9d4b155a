"""Preference bias B of a strategy predictor (Kang et al., ACL 2024).

Kang et al., "Can Large Language Models be Good Emotional Supporter? Mitigating Preference
Bias on Emotional Support Conversation" measure how much a predictor over-prefers some
strategies. Every off-diagonal cell of the confusion matrix is read as a contest between two
strategies: when the gold strategy is ``j`` and the predictor says ``i``, strategy ``i``
*beats* ``j``. Bradley–Terry strengths ``p`` are fitted to those win counts and scaled to sum
to 8 (so their mean is 1); B is their (population) standard deviation. A predictor that
confuses strategies symmetrically gets B = 0; one that answers "Question" whenever unsure
gets a large B.

With ``W[i, j]`` = number of examples with prediction ``i`` and gold ``j`` (``i != j``; the
diagonal is ignored), each of the 20 sweeps updates, for ``i = 0..7`` in turn and in place
(later updates in the same sweep already see the new ``p[i]``)::

    p[i] = sum_{j != i} W[i, j] * p[j] / (p[i] + p[j])
           -----------------------------------------------
           sum_{j != i} W[j, i]        / (p[i] + p[j])

then divides ``p`` by the geometric mean of its non-zero entries. After the last sweep
``p`` is scaled to sum to 8 and ``B = sqrt(mean((p - 1) ** 2))``.

This is the update of the authors' released ``metrics.py`` (repository
``1eastar/EmotionalSupport``), kept exactly so that B is comparable with published numbers.
It is the minorisation–maximisation family's fixed-point iteration in the form of Newman
(2023); its fixed point is the same maximum-likelihood estimate as Hunter's (2004) MM update
``p[i] = wins[i] / sum_j N[i, j] / (p[i] + p[j])``, which it reaches in fewer sweeps.

Degenerate cases, where the authors' code divides by zero (and returns ``nan``): a strategy
with no off-diagonal counts at all (never confused either way) keeps its strength; a strategy
that wins but never loses (a counselor that answers "Others" whenever it is unsure and is
never wrong when the gold is "Others") has no finite maximum-likelihood strength, and B is
``nan`` here too: the preference is unbounded.

>>> import numpy as np
>>> W = np.zeros((8, 8)); W[0, 7] = 2; W[7, 0] = 1  # Question beats Others twice, loses once
>>> [round(float(x), 4) for x in bradley_terry_strengths(W)[[0, 7]]]
[1.7778, 0.8889]
>>> round(preference_bias(W), 4)  # sqrt(7) / 9
0.294
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["bradley_terry_strengths", "confusion_counts", "preference_bias"]

#: Sweeps of the update, as in Kang et al.
ITERATIONS = 20


def confusion_counts(gold: Sequence[int], pred: Sequence[int], n_labels: int = 8) -> np.ndarray:
    """``C[g, p]``: how many examples with gold label ``g`` were predicted as ``p``.

    >>> confusion_counts([0, 0, 1], [0, 1, 1], n_labels=2).tolist()
    [[1, 1], [0, 1]]
    """
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold labels but {len(pred)} predictions")
    counts = np.zeros((n_labels, n_labels), dtype=np.int64)
    np.add.at(counts, (np.asarray(gold, dtype=int), np.asarray(pred, dtype=int)), 1)
    return counts


def _sweep(wins: np.ndarray, p: np.ndarray) -> None:
    n = len(p)
    for i in range(n):
        num = den = 0.0
        for j in range(n):
            if j == i or p[i] + p[j] == 0:
                continue
            num += wins[i, j] * p[j] / (p[i] + p[j])
            den += wins[j, i] / (p[i] + p[j])
        if den > 0:
            p[i] = num / den
        # den == 0: never loses; never wins either (checked before), so p[i] is kept
    positive = p[p > 0]
    if len(positive):
        p /= math.exp(float(np.mean(np.log(positive))))


def bradley_terry_strengths(wins: np.ndarray, iterations: int = ITERATIONS) -> np.ndarray:
    """Bradley–Terry strengths from a win matrix, scaled to sum to ``len(wins)``.

    Args:
        wins: square matrix, ``wins[i, j]`` = times ``i`` beat ``j``. For a strategy
            predictor that is the transposed confusion matrix: prediction ``i`` over gold
            ``j``. The diagonal is ignored.
        iterations: sweeps of the update (20 in Kang et al.).

    Returns:
        The strengths, in the order of ``wins``' rows; all ``nan`` when one of them is
        unbounded (it wins and never loses).
    """
    wins = np.asarray(wins, dtype=float)
    if wins.ndim != 2 or wins.shape[0] != wins.shape[1]:
        raise ValueError(f"wins must be a square matrix, got shape {wins.shape}")
    off = wins * (1 - np.eye(len(wins)))
    if np.any((off.sum(axis=1) > 0) & (off.sum(axis=0) == 0)):  # wins, never loses
        return np.full(len(wins), math.nan)
    p = np.ones(len(wins))
    for _ in range(iterations):
        _sweep(off, p)
    return p * len(p) / p.sum()


def preference_bias(
    wins: np.ndarray | None = None,
    *,
    gold: Sequence[int] | None = None,
    pred: Sequence[int] | None = None,
    n_labels: int = 8,
) -> float:
    """Preference bias B: the population standard deviation of the Bradley–Terry strengths.

    Pass either ``wins`` (prediction-over-gold counts, see :func:`bradley_terry_strengths`)
    or the ``gold`` and ``pred`` label indices.

    >>> preference_bias(gold=[0, 1, 2], pred=[1, 2, 0], n_labels=3)  # a fair cycle
    0.0
    """
    if wins is None:
        if gold is None or pred is None:
            raise ValueError("pass wins, or gold and pred")
        wins = confusion_counts(gold, pred, n_labels).T
    strengths = bradley_terry_strengths(wins)
    return float(np.std(strengths))
