"""Dataset statistics (docs/method.md, "Measurements"): counts and lengths, overall and per role,
and strategy shares.

Tokens per utterance come in two forms, both reported:

- per utterance (``avg_utterance_tokens``): each utterance tokenized on its own, after the
  chosen normalisation;
- the paper's form (``paper``): each raw dialogue tokenized as one text of ``speaker: text``
  lines (see :mod:`sweetiechat.metrics.paper`); on ESConv 812,288 / 38,365 = 21.17.

>>> from sweetiechat.types import Dialogue, Turn
>>> from sweetiechat.tokenizers import get_tokenizer
>>> d = Dialogue(id="x", problem_type="Burnout", turns=[Turn(role="seeker", text="I am tired"),
...     Turn(role="supporter", text="Why?", strategy="Question")])
>>> s = compute_stats([d], get_tokenizer("whitespace"), label="demo")
>>> s.utterances, s.avg_utterance_tokens, s.strategies["Question"]
(2, 2.0, 1)
>>> s.paper.tokens, s.paper.utterances  # usr: I am tired / sys: Why?
(6, 2)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from pydantic import BaseModel

from sweetiechat.metrics.paper import dialogue_document
from sweetiechat.normalize import normalise
from sweetiechat.taxonomy import Strategy
from sweetiechat.tokenizers import Tokenizer, count_tokens
from sweetiechat.types import Dialogue

__all__ = ["DatasetStats", "PaperTokens", "RoleStats", "compute_stats"]


class RoleStats(BaseModel):
    """Numbers for one role."""

    utterances: int
    """Utterances by this role."""
    avg_per_dialogue: float
    """Utterances by this role per dialogue."""
    avg_tokens: float
    """Average tokens per utterance by this role."""


class PaperTokens(BaseModel):
    """Tokens per utterance in the paper's form: raw dialogues (no normalisation), each one
    text of ``speaker: text`` lines, so speaker labels and line breaks count as tokens."""

    utterances: int
    """Raw utterances."""
    tokens: int
    """Tokens of all dialogue texts."""
    avg_utterance_tokens: float
    """``tokens / utterances``."""


class DatasetStats(BaseModel):
    """The statistics of one file; ``model_dump()`` is the ``stats --json`` object."""

    file: str
    dialogues: int
    utterances: int
    avg_utterances_per_dialogue: float
    avg_utterance_tokens: float
    """Per-utterance form: tokens of each utterance on its own, averaged."""
    tokens: int
    """Per-utterance form: tokens of all utterances."""
    paper: PaperTokens
    """The paper's form of tokens per utterance."""
    tokenizer: str
    roles: dict[str, RoleStats]
    strategies: dict[str, int]
    """Canonical strategy name -> supporter utterances with it (all 8 keys, zeros included)."""
    normalisation: list[str]
    """Normalisation steps applied (``merge_consecutive``, ``drop_greetings``)."""

    @property
    def strategy_shares(self) -> dict[str, float]:
        """Strategy name -> share of labelled supporter utterances (0-1)."""
        total = sum(self.strategies.values())
        return {k: (v / total if total else 0.0) for k, v in self.strategies.items()}


def _mean(total: float, count: int) -> float:
    return total / count if count else 0.0


def compute_stats(
    dialogues: Iterable[Dialogue],
    tokenizer: Tokenizer,
    *,
    label: str = "",
    merge_consecutive: bool = False,
    drop_greetings: bool = False,
) -> DatasetStats:
    """Compute the statistics of a stream of dialogues in one pass, in constant memory."""
    n_dialogues = 0
    utts: Counter[str] = Counter()
    tokens: Counter[str] = Counter()
    strategies: Counter[Strategy] = Counter()
    raw_utts = raw_tokens = 0
    for dialogue in dialogues:
        raw_utts += len(dialogue.turns)
        raw_tokens += count_tokens(tokenizer, dialogue_document(dialogue))
        dialogue = normalise(
            dialogue, merge_consecutive=merge_consecutive, drop_greetings=drop_greetings
        )
        n_dialogues += 1
        for turn in dialogue.turns:
            utts[turn.role] += 1
            tokens[turn.role] += count_tokens(tokenizer, turn.text)
            if turn.strategy is not None:
                strategies[turn.strategy] += 1
    total_utts = sum(utts.values())
    roles = {
        role: RoleStats(
            utterances=utts[role],
            avg_per_dialogue=_mean(utts[role], n_dialogues),
            avg_tokens=_mean(tokens[role], utts[role]),
        )
        for role in ("seeker", "supporter")
    }
    steps = [
        name
        for name, on in [
            ("merge_consecutive", merge_consecutive),
            ("drop_greetings", drop_greetings),
        ]
        if on
    ]
    return DatasetStats(
        file=label,
        dialogues=n_dialogues,
        utterances=total_utts,
        avg_utterances_per_dialogue=_mean(total_utts, n_dialogues),
        avg_utterance_tokens=_mean(sum(tokens.values()), total_utts),
        tokens=sum(tokens.values()),
        paper=PaperTokens(
            utterances=raw_utts, tokens=raw_tokens, avg_utterance_tokens=_mean(raw_tokens, raw_utts)
        ),
        tokenizer=tokenizer.name,
        roles=roles,
        strategies={s.value: strategies[s] for s in Strategy},
        normalisation=steps,
    )
