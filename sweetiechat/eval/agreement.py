"""Agreement between judges and win/tie/loss counting, for LLM and human judges alike.

Fleiss' kappa (Fleiss, 1971) measures how much several raters agree beyond chance when each
of ``N`` subjects is put into one of ``k`` categories by ``n`` raters. From the table
``n_ij`` (how many raters put subject ``i`` in category ``j``; every row sums to ``n``):

- ``p_j = sum_i n_ij / (N n)``, the share of all ratings in category ``j``;
- ``P_i = (sum_j n_ij^2 - n) / (n (n - 1))``, the agreement on subject ``i``: the share of
  rater pairs that agree;
- ``P_bar = mean_i P_i`` (observed) and ``P_e = sum_j p_j^2`` (expected by chance);
- ``kappa = (P_bar - P_e) / (1 - P_e)``.

Cohen's kappa is the two-rater form with each rater's own marginals:
``kappa = (p_o - p_e) / (1 - p_e)``, ``p_e = sum_c p_1(c) p_2(c)``.

>>> round(fleiss_kappa([[2, 0], [0, 2], [1, 1]]), 3)
0.333
>>> cohen_kappa(["a", "b", "a"], ["a", "b", "a"])
1.0
>>> win_tie_loss(["a", "tie", "b", None, "a"]).as_dict()
{'win': 2, 'tie': 1, 'loss': 1, 'missing': 1}
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass

__all__ = [
    "PositionBias",
    "WinTieLoss",
    "binomial_p",
    "category_table",
    "cohen_kappa",
    "fleiss_kappa",
    "percent_agreement",
    "position_bias",
    "win_tie_loss",
]


def fleiss_kappa(table: Sequence[Sequence[int]]) -> float:
    """Fleiss' kappa of a subjects x categories count table (see the module docstring).

    Args:
        table: ``table[i][j]`` raters who put subject ``i`` in category ``j``; every row must
            have the same total ``n >= 2``.

    Returns:
        kappa, in [-1, 1]; 1.0 when all raters agree on every subject and only one category
        is ever used (agreement is then perfect, though chance agreement is too); NaN for
        an empty table.

    Raises:
        ValueError: rows of different totals, fewer than 2 raters, or negative counts.
    """
    rows = [list(r) for r in table]
    if not rows:
        return math.nan
    n = sum(rows[0])
    if any(sum(r) != n for r in rows):
        raise ValueError("every subject needs the same number of ratings")
    if n < 2:
        raise ValueError("Fleiss' kappa needs at least 2 ratings per subject")
    if any(c < 0 for r in rows for c in r):
        raise ValueError("counts must not be negative")
    big_n = len(rows)
    k = max(len(r) for r in rows)
    p_j = [sum(r[j] if j < len(r) else 0 for r in rows) / (big_n * n) for j in range(k)]
    p_i = [(sum(c * c for c in r) - n) / (n * (n - 1)) for r in rows]
    p_bar = sum(p_i) / big_n
    p_e = sum(p * p for p in p_j)
    if p_e >= 1.0:
        return 1.0
    return (p_bar - p_e) / (1 - p_e)


def category_table(
    ratings: Sequence[Sequence[Hashable]], categories: Sequence[Hashable] | None = None
) -> list[list[int]]:
    """The count table of :func:`fleiss_kappa` from per-subject lists of ratings.

    >>> category_table([["a", "a", "b"], ["b", "b", "b"]], ["a", "b", "tie"])
    [[2, 1, 0], [0, 3, 0]]
    """
    cats = (
        list(categories)
        if categories is not None
        else sorted({c for r in ratings for c in r}, key=str)
    )
    index = {c: i for i, c in enumerate(cats)}
    table = []
    for r in ratings:
        row = [0] * len(cats)
        for c in r:
            row[index[c]] += 1
        table.append(row)
    return table


def cohen_kappa(first: Sequence[Hashable], second: Sequence[Hashable]) -> float:
    """Cohen's kappa between two raters' labels of the same subjects (NaN when empty).

    Raises:
        ValueError: the sequences differ in length.
    """
    if len(first) != len(second):
        raise ValueError("both raters must rate the same subjects")
    if not first:
        return math.nan
    total = len(first)
    p_o = sum(1 for x, y in zip(first, second, strict=True) if x == y) / total
    c1, c2 = Counter(first), Counter(second)
    p_e = sum(c1[c] * c2[c] for c in c1) / (total * total)
    if p_e >= 1.0:
        return 1.0
    return (p_o - p_e) / (1 - p_e)


def percent_agreement(first: Sequence[Hashable], second: Sequence[Hashable]) -> float:
    """The share of subjects on which two raters give the same label (NaN when empty)."""
    if len(first) != len(second):
        raise ValueError("both raters must rate the same subjects")
    if not first:
        return math.nan
    return sum(1 for x, y in zip(first, second, strict=True) if x == y) / len(first)


@dataclass(frozen=True)
class WinTieLoss:
    """System A's record against system B."""

    win: int
    """A judged better."""
    tie: int
    """Judged equal."""
    loss: int
    """B judged better."""
    missing: int
    """No usable answer (never counted as a tie)."""

    @property
    def judged(self) -> int:
        """Answers that were usable."""
        return self.win + self.tie + self.loss

    def shares(self) -> tuple[float, float, float]:
        """(win, tie, loss) as shares of the usable answers (zeros when there are none)."""
        n = self.judged
        return (self.win / n, self.tie / n, self.loss / n) if n else (0.0, 0.0, 0.0)

    def as_dict(self) -> dict[str, int]:
        """The counts as a plain dict."""
        return asdict(self)


def win_tie_loss(winners: Sequence[str | None]) -> WinTieLoss:
    """Count winners given as ``"a"``, ``"b"``, ``"tie"`` or ``None`` (missing).

    Raises:
        ValueError: any other label.
    """
    counts = Counter(winners)
    unknown = set(counts) - {"a", "b", "tie", None}
    if unknown:
        raise ValueError(f"unknown winner label(s) {sorted(map(str, unknown))}")
    return WinTieLoss(counts["a"], counts["tie"], counts["b"], counts[None])


def binomial_p(successes: int, trials: int, p: float = 0.5) -> float:
    """Exact two-sided binomial test: the probability, under ``p``, of an outcome no more
    likely than ``successes`` out of ``trials`` (1.0 when there are no trials).

    >>> round(binomial_p(9, 10), 4)
    0.0215
    """
    if trials == 0:
        return 1.0

    def pmf(k: int) -> float:
        return math.comb(trials, k) * p**k * (1 - p) ** (trials - k)

    observed = pmf(successes)
    return min(1.0, sum(pmf(k) for k in range(trials + 1) if pmf(k) <= observed * (1 + 1e-9)))


@dataclass(frozen=True)
class PositionBias:
    """How often the response shown first wins."""

    first: int
    """Answers for the response shown first."""
    second: int
    """Answers for the response shown second."""
    tie: int
    """Ties."""
    missing: int
    """No usable answer."""

    @property
    def first_share(self) -> float:
        """The first-shown response's share of the decisive answers (NaN when none); 0.5 is
        no bias."""
        n = self.first + self.second
        return self.first / n if n else math.nan

    @property
    def p_value(self) -> float:
        """Two-sided exact binomial test of ``first_share`` against 50%."""
        return binomial_p(self.first, self.first + self.second)

    def as_dict(self) -> dict[str, float | int]:
        """Counts, the first-shown share and the p-value."""
        return {**asdict(self), "first_share": self.first_share, "p_value": self.p_value}


def position_bias(answers: Sequence[str | None]) -> PositionBias:
    """Count answers in the order shown: ``"A"`` is the first-shown response, ``"B"`` the
    second, ``"tie"``, and ``None`` for missing."""
    counts = Counter(answers)
    unknown = set(counts) - {"A", "B", "tie", None}
    if unknown:
        raise ValueError(f"unknown answer label(s) {sorted(map(str, unknown))}")
    return PositionBias(counts["A"], counts["B"], counts["tie"], counts[None])
