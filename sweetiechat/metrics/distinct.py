"""Distinct-n (Li et al., 2016): the share of n-grams that are unique.

- *corpus*: unique n-grams over all texts / all n-grams over all texts;
- *averaged*: the mean over texts of (unique n-grams / n-grams) within each text; texts with
  no n-gram of that order are left out of the mean.

>>> distinct_corpus([["a", "b", "a", "b"]], 1)
0.5
>>> distinct_corpus([["a", "b"], ["a", "b"]], 2)
0.5
>>> distinct_averaged([["a", "b"], ["a", "b"]], 2)
1.0
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["distinct_averaged", "distinct_corpus", "ngrams"]


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    """The n-grams of a token list, in order."""
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def distinct_corpus(texts: Sequence[Sequence[str]], n: int) -> float | None:
    """Corpus Distinct-n; ``None`` when there is no n-gram at all."""
    unique: set[tuple[str, ...]] = set()
    total = 0
    for tokens in texts:
        grams = ngrams(tokens, n)
        unique.update(grams)
        total += len(grams)
    return len(unique) / total if total else None


def distinct_averaged(texts: Sequence[Sequence[str]], n: int) -> float | None:
    """Distinct-n per text, averaged; ``None`` when no text has an n-gram."""
    scores = []
    for tokens in texts:
        grams = ngrams(tokens, n)
        if grams:
            scores.append(len(set(grams)) / len(grams))
    return sum(scores) / len(scores) if scores else None
