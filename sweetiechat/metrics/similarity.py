"""TF-IDF cosine similarity over all pairs of distinct texts, without an N×N matrix.

The texts' TF-IDF vectors (scikit-learn, L2-normalised, sparse) are multiplied in row blocks:
rows ``i >= start`` (sparse) times the block's rows (dense), so only the upper triangle is
formed; each block's values go straight into histogram bins. Memory is ``block × N`` plus
``block × vocabulary`` floats, and every pair ``i < j`` is counted once. The mean is
exact; the median is read from the histogram (resolution ``1 / bins``).

>>> h = pairwise_similarity(["tired sad alone", "tired sad angry", "happy calm rested"])
>>> h.pairs, round(h.mean, 3)
(3, 0.179)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["SimilarityHistogram", "paired_similarity", "pairwise_similarity", "tfidf"]

BINS = 1000


@dataclass
class SimilarityHistogram:
    """Pairwise similarities, binned on [0, 1]."""

    counts: np.ndarray = field(default_factory=lambda: np.zeros(BINS, dtype=np.int64))
    total: float = 0.0
    pairs: int = 0

    @property
    def edges(self) -> np.ndarray:
        """Bin edges, ``len(counts) + 1`` of them."""
        return np.linspace(0.0, 1.0, len(self.counts) + 1)

    @property
    def mean(self) -> float | None:
        """Exact mean similarity; ``None`` with no pair (a single text)."""
        return self.total / self.pairs if self.pairs else None

    @property
    def median(self) -> float | None:
        """Median from the histogram (bin centre); ``None`` with no pair."""
        if not self.pairs:
            return None
        cumulative = np.cumsum(self.counts)
        index = int(np.searchsorted(cumulative, (self.pairs + 1) / 2))
        return float((self.edges[index] + self.edges[index + 1]) / 2)

    def add(self, values: np.ndarray) -> None:
        """Bin a batch of similarity values."""
        values = np.clip(values, 0.0, 1.0)
        idx = np.minimum((values * len(self.counts)).astype(np.int64), len(self.counts) - 1)
        self.counts += np.bincount(idx, minlength=len(self.counts))
        self.total += float(values.sum(dtype=np.float64))
        self.pairs += int(values.size)

    def summary(self) -> dict[str, Any]:
        """``{"pairs", "mean", "median"}`` (``None`` where undefined)."""
        return {"pairs": self.pairs, "mean": self.mean, "median": self.median}


def tfidf(texts: Sequence[str], **options: Any) -> Any:
    """L2-normalised TF-IDF vectors (scipy CSR, float32) of ``texts``.

    Texts without any word (of 2+ characters) get all-zero vectors, so their similarity to
    anything is 0 rather than an error.
    """
    from scipy.sparse import csr_matrix
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(dtype=np.float32, **options)
    try:
        return vectorizer.fit_transform(texts)
    except ValueError as err:
        if "empty vocabulary" not in str(err):
            raise
        return csr_matrix((len(texts), 1), dtype=np.float32)


def pairwise_similarity(
    texts: Sequence[str] | None = None,
    *,
    matrix: Any = None,
    block: int = 512,
    bins: int = BINS,
) -> SimilarityHistogram:
    """Histogram of cosine similarity over every pair of distinct texts (``i < j``).

    Args:
        texts: the documents (or pass ``matrix``, rows already L2-normalised).
        block: rows per product; memory is ``block × (N + vocabulary)`` float32.
        bins: histogram bins on [0, 1].
    """
    hist = SimilarityHistogram(counts=np.zeros(bins, dtype=np.int64))
    if matrix is None:
        if texts is None or len(texts) < 2:
            return hist
        matrix = tfidf(texts)
    n = matrix.shape[0]
    if n < 2:
        return hist
    matrix = matrix.tocsr()
    for start in range(0, n - 1, block):
        stop = min(start + block, n)
        # Sparse rows [start, N) times the dense block: only pairs with j >= start are formed.
        dense_block = matrix[start:stop].toarray()
        sims = np.asarray(matrix[start:] @ dense_block.T).T  # (stop - start) × (N - start)
        rows = np.arange(stop - start)[:, None]
        cols = np.arange(n - start)[None, :]
        hist.add(sims[cols > rows])
    return hist


def paired_similarity(left: Sequence[str], right: Sequence[str]) -> SimilarityHistogram:
    """Histogram of the similarity of ``left[i]`` to ``right[i]`` (e.g. scenario to dialogue),
    with one TF-IDF space fitted on both."""
    hist = SimilarityHistogram()
    if not left:
        return hist
    matrix = tfidf(list(left) + list(right))
    a, b = matrix[: len(left)], matrix[len(left) :]
    hist.add(np.asarray(a.multiply(b).sum(axis=1)).ravel())
    return hist
