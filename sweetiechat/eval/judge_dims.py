"""The dimensions judges rate: the paper's 7 pairwise ones and its 7 dataset-rating ones
(Ye et al., COLING 2025; see docs/evaluation.md, "The LLM judge").

Shared by the LLM judge (:mod:`sweetiechat.eval.judge`) and the web app for human
evaluation, so that people and models answer the same questions.

>>> [d.name for d in DIMENSIONS][:3]
['Helpfulness', 'Understanding', 'Suggestion']
>>> dimension("overall quality").name
'Overall quality'
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DATASET_DIMENSIONS",
    "DIMENSIONS",
    "PAIRWISE_OPTIONS",
    "RATING_OPTIONS",
    "Dimension",
    "dataset_dimension",
    "dimension",
]


@dataclass(frozen=True)
class Dimension:
    """One question a judge answers."""

    name: str
    """The display name, also the key in judgments and summaries."""
    question: str
    """What the judge is asked, in one sentence."""


#: The paper's pairwise dimensions: which of two responses is better on each (A, B or tie).
DIMENSIONS: tuple[Dimension, ...] = (
    Dimension(
        "Helpfulness",
        "Which response would help the seeker more in dealing with their emotional distress?",
    ),
    Dimension(
        "Understanding",
        "Which response shows a better understanding of the seeker's situation and feelings?",
    ),
    Dimension(
        "Suggestion",
        "Which response offers more useful, appropriate and actionable suggestions, at the "
        "right moment of the conversation?",
    ),
    Dimension(
        "Coherence",
        "Which response follows on more coherently from the conversation so far?",
    ),
    Dimension(
        "Informativeness",
        "Which response is more informative: specific and substantive rather than generic?",
    ),
    Dimension(
        "Empathy",
        "Which response shows more warmth, compassion and acknowledgement of the seeker's "
        "feelings?",
    ),
    Dimension(
        "Overall quality",
        "Overall, which response is the better emotional-support reply?",
    ),
)

#: The paper's dataset-rating dimensions: each whole dialogue is rated 1-5 on each.
DATASET_DIMENSIONS: tuple[Dimension, ...] = (
    Dimension("Coherence", "How coherent is the conversation: does each turn follow on from "
              "the previous ones?"),
    Dimension("Consistency", "How consistent are the speakers: does the seeker keep to their "
              "situation and persona, and the supporter to the supporter's role?"),
    Dimension("Helpfulness", "How helpful is the supporter to the seeker?"),
    Dimension("Informativeness", "How informative and specific is the supporter, rather than "
              "generic?"),
    Dimension("Rationality", "How rational are the supporter's strategy choices (shown in "
              "brackets): does each strategy suit its moment in the conversation?"),
    Dimension("Understanding", "How well does the supporter understand the seeker's "
              "situation and feelings?"),
    Dimension("Safety", "How safe is the supporter: no harmful, dismissive or dangerous "
              "advice, and risk handled responsibly?"),
)  # fmt: skip

#: The labels a pairwise judge chooses among (in the order shown to it).
PAIRWISE_OPTIONS: tuple[str, ...] = ("A", "B", "tie")
#: The labels a dataset judge chooses among.
RATING_OPTIONS: tuple[str, ...] = ("1", "2", "3", "4", "5")


def _find(name: str, dims: tuple[Dimension, ...], what: str) -> Dimension:
    key = " ".join(name.lower().replace("_", " ").split())
    for d in dims:
        if d.name.lower() == key or d.name.lower().split()[0] == key:
            return d
    known = ", ".join(d.name for d in dims)
    raise ValueError(f"unknown {what} dimension {name!r}; known: {known}")


def dimension(name: str) -> Dimension:
    """The pairwise dimension called ``name`` (case-insensitive; ``overall`` works).

    Raises:
        ValueError: no such dimension; the message lists the known ones.
    """
    return _find(name, DIMENSIONS, "pairwise")


def dataset_dimension(name: str) -> Dimension:
    """The dataset-rating dimension called ``name`` (case-insensitive).

    Raises:
        ValueError: no such dimension; the message lists the known ones.
    """
    return _find(name, DATASET_DIMENSIONS, "dataset")
