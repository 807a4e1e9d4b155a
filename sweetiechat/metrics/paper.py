"""The paper's way of counting tokens and corpus Distinct-n, next to the per-utterance way.

The paper (Ye et al., COLING 2025) reports 21.2 tokens per utterance for ESConv (its Table 1)
and a corpus Distinct-1/2/3 of 1.82 / 19.76 / 49.38 (its Table 6). Both are reproduced exactly
by one recipe (see docs/method.md, "Measurements"), the **paper form**:

- take the raw dialogues (no merging of consecutive utterances, no greetings dropped);
- write each dialogue as one text, one ``speaker: text`` line per utterance, joined with
  newlines, with a single-token speaker label (``usr`` for the seeker, ``sys`` for the
  supporter, as ESConv spells them);
- tokenize each dialogue text with the Llama-3 tokenizer, without a BOS token;
- count n-grams over the whole corpus, crossing utterance lines but not dialogues.

On all 1,300 ESConv dialogues this gives 812,288 tokens / 38,365 utterances = 21.17 tokens per
utterance, and 14,801 / 160,220 / 399,795 unique 1/2/3-grams.

The **per-utterance form** tokenizes each utterance on its own and counts n-grams within
utterances (18.87 tokens per utterance and 2.14 / 22.90 / 57.59 on ESConv).

N-grams are counted over token ids where the tokenizer has them (Llama-3), so `` the`` and
``the`` stay different tokens, as in the original.

>>> from sweetiechat.types import Dialogue, Turn
>>> d = Dialogue(id="x", problem_type="Burnout", turns=[Turn(role="seeker", text="I am tired"),
...     Turn(role="supporter", text="Why?", strategy="Question")])
>>> print(dialogue_document(d))
usr: I am tired
sys: Why?
>>> from sweetiechat.tokenizers import get_tokenizer
>>> acc = DistinctAccumulator()
>>> acc.add(get_tokenizer("whitespace").tokenize("a b a b"))
>>> [(c.unique, c.total) for c in acc.counts()]
[(2, 4), (2, 3), (2, 2)]
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from pydantic import BaseModel

from sweetiechat.tokenizers import Tokenizer
from sweetiechat.types import Dialogue

__all__ = [
    "SPEAKER_LABELS",
    "DistinctAccumulator",
    "DistinctForm",
    "NgramCount",
    "dialogue_document",
    "token_ids",
]

#: Single-token speaker labels of the paper form (ESConv's own).
SPEAKER_LABELS = {"seeker": "usr", "supporter": "sys"}


def dialogue_document(dialogue: Dialogue) -> str:
    """The dialogue as the paper counted it: ``speaker: text`` lines joined by newlines."""
    return "\n".join(f"{SPEAKER_LABELS[t.role]}: {t.text}" for t in dialogue.turns)


def token_ids(tokenizer: Tokenizer, text: str) -> Sequence[Hashable]:
    """Token ids where the tokenizer has them (Llama-3, no BOS), else its token strings."""
    encode = getattr(tokenizer, "encode", None)
    return encode(text) if encode is not None else tokenizer.tokenize(text)


class NgramCount(BaseModel):
    """Unique and total n-grams of one order over a corpus."""

    n: int
    unique: int
    total: int

    @property
    def distinct(self) -> float | None:
        """Unique / total (a fraction), ``None`` with no n-gram."""
        return self.unique / self.total if self.total else None


class DistinctForm(BaseModel):
    """Corpus Distinct-1/2/3 counted one way."""

    form: str
    """``paper`` (one text per dialogue with speaker lines) or ``per-utterance``."""
    texts: int
    """Texts the n-grams were counted in (dialogues or utterances)."""
    tokens: int
    """Tokens in all texts."""
    counts: list[NgramCount]
    """Unique and total n-grams for n = 1, 2, 3."""

    def value(self, n: int) -> float | None:
        """Distinct-``n`` as a fraction."""
        return self.counts[n - 1].distinct


class DistinctAccumulator:
    """Unique n-grams (n = 1..``max_n``) over texts added one by one; n-grams never cross texts."""

    def __init__(self, max_n: int = 3) -> None:
        self._unique: list[set[tuple[Hashable, ...]]] = [set() for _ in range(max_n)]
        self._total = [0] * max_n
        self.texts = 0
        self.tokens = 0

    def add(self, tokens: Sequence[Hashable]) -> None:
        """Count the n-grams of one text."""
        self.texts += 1
        self.tokens += len(tokens)
        seq = tuple(tokens)
        for i, unique in enumerate(self._unique):
            n = i + 1
            grams = [seq[j : j + n] for j in range(len(seq) - n + 1)]
            unique.update(grams)
            self._total[i] += len(grams)

    def counts(self) -> list[NgramCount]:
        """The counts so far, for n = 1..max_n."""
        return [
            NgramCount(n=i + 1, unique=len(u), total=t)
            for i, (u, t) in enumerate(zip(self._unique, self._total, strict=True))
        ]

    def result(self, form: str) -> DistinctForm:
        """The counts as a :class:`DistinctForm`."""
        return DistinctForm(form=form, texts=self.texts, tokens=self.tokens, counts=self.counts())
