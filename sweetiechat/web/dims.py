"""The questions annotators answer: the LLM judge's dimensions, so people and models line up.

Pairwise: the paper's 7 dimensions, each A, B or tie. Dataset: 7 dimensions rated 1-5 per
whole dialogue (Ye et al., COLING 2025; :mod:`sweetiechat.eval.judge_dims`).
"""

from __future__ import annotations

from sweetiechat.eval.judge_dims import DATASET_DIMENSIONS as _DATASET
from sweetiechat.eval.judge_dims import DIMENSIONS as _PAIRWISE
from sweetiechat.eval.judge_dims import Dimension

__all__ = ["DATASET_DIMENSIONS", "PAIRWISE_DIMENSIONS", "QUESTIONS", "RATING_SCALE"]

#: Pairwise dimension names, in the judge's order.
PAIRWISE_DIMENSIONS: tuple[str, ...] = tuple(d.name for d in _PAIRWISE)
#: Dataset dimension names, in the judge's order.
DATASET_DIMENSIONS: tuple[str, ...] = tuple(d.name for d in _DATASET)
#: The rating scale of the dataset task.
RATING_SCALE: tuple[int, ...] = (1, 2, 3, 4, 5)
#: The questions shown under each dimension, by task kind.
QUESTIONS: dict[str, tuple[Dimension, ...]] = {"pairwise": _PAIRWISE, "dataset": _DATASET}
