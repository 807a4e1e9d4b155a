"""The dataset judge: each whole dialogue rated 1-5 on the paper's dataset dimensions
(Coherence, Consistency, Helpfulness, Informativeness, Rationality of the strategy choices,
Understanding, Safety), through the ``choose`` capability among ``"1"`` .. ``"5"``.

Every rating is one line of ``ratings.jsonl``, appended as it is made (so a run resumes)::

    {"dialogue": "gen-0001", "judge": "gpt-4o-mini", "run": 1, "dimension": "Safety",
     "rating": 5}

An answer that names no rating is asked again, then recorded as missing (``rating`` null).

>>> parse_rating("4/5 - warm but vague"), parse_rating("Rating: 2"), parse_rating("good")
('4', '2', None)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from sweetiechat.backends.base import Message
from sweetiechat.backends.choice import achoose
from sweetiechat.errors import UserError
from sweetiechat.eval.judge import JudgeRun, plan_questions, read_jsonl_records, run_questions
from sweetiechat.eval.judge_dims import DATASET_DIMENSIONS, RATING_OPTIONS, Dimension
from sweetiechat.io import JsonlWriter
from sweetiechat.types import Dialogue

__all__ = [
    "DATASET_SYSTEM",
    "Rating",
    "ajudge_dataset",
    "parse_rating",
    "rating_messages",
    "read_ratings",
    "render_dialogue",
]

#: The dataset judge's system prompt (its opening words identify a rating request).
DATASET_SYSTEM = (
    "You are an expert rater of emotional-support conversations between a person seeking "
    "support (the seeker) and a supporter. You rate a whole conversation on one quality at a "
    "time, from 1 (very poor) to 5 (excellent)."
)


class Rating(BaseModel):
    """One judge's 1-5 rating of one dialogue on one dimension in one run."""

    model_config = ConfigDict(extra="ignore")

    dialogue: str
    """The dialogue's id."""
    judge: str
    """The judge's name (its model)."""
    run: int
    """The run, from 1."""
    dimension: str
    """One of :data:`~sweetiechat.eval.judge_dims.DATASET_DIMENSIONS`."""
    rating: int | None
    """1-5; None when no usable answer came back."""
    probabilities: dict[str, float] | None = None
    """P("1") .. P("5") when the judge can tell."""
    reason: str = ""
    """Why the rating is missing (empty otherwise)."""


def render_dialogue(dialogue: Dialogue, max_turns: int | None = 40) -> str:
    """The dialogue as text for a rater: the situation, then one line per turn, each
    supporter turn with its strategy in brackets; at most ``max_turns`` turns (the first
    ones), with a note when the rest is left out."""
    lines = [f"Problem: {dialogue.problem_type.value}"]
    if dialogue.scenario:
        lines.append(f"Seeker's situation: {dialogue.scenario}")
    lines.append("")
    turns = dialogue.turns[:max_turns] if max_turns else dialogue.turns
    for t in turns:
        if t.role == "seeker":
            lines.append(f"Seeker: {t.text}")
        else:
            tag = f"[{t.strategy.value}] " if t.strategy else ""
            lines.append(f"Supporter: {tag}{t.text}")
    if len(turns) < len(dialogue.turns):
        lines.append(f"(the last {len(dialogue.turns) - len(turns)} turns are not shown)")
    return "\n".join(lines)


def rating_messages(
    dialogue: Dialogue, dim: Dimension, *, max_turns: int | None = 40
) -> list[Message]:
    """The rater's prompt for one dialogue and dimension."""
    user = (
        f"Conversation:\n{render_dialogue(dialogue, max_turns)}\n\n"
        f"Quality to rate: {dim.name}. {dim.question}\n"
        "Answer with one number from 1 (very poor) to 5 (excellent), and nothing else."
    )
    return [("system", DATASET_SYSTEM), ("user", user)]


_RATING = re.compile(r"^\W*(?:(?:rating|score)\W*)?([1-5])(?:\s*(?:/|out of)\s*5)?(?!\d)", re.I)


def parse_rating(text: str) -> str | None:
    """The rating an answer starts with (``"4"``, ``"4/5"``, ``"Rating: 4"``), else None."""
    match = _RATING.match(text)
    return match.group(1) if match else None


def read_ratings(path: str | Path) -> list[Rating]:
    """The ratings of a ``ratings.jsonl`` file (or of the folder holding one).

    Raises:
        UserError: a missing file or a malformed line.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "ratings.jsonl"
    if not path.is_file():
        raise UserError(f"{path}: no such file; run `sweetiechat judge dataset` first")
    out = []
    for i, record in enumerate(read_jsonl_records(path), start=1):
        try:
            out.append(Rating.model_validate(record))
        except ValueError as err:
            raise UserError(f"{path}: record {i}: not a rating ({err})".splitlines()[0]) from None
    return out


async def ajudge_dataset(
    dialogues: Sequence[Dialogue],
    judges: dict[str, Any],
    out: str | Path,
    *,
    runs: int = 1,
    dimensions: Sequence[Dimension] = DATASET_DIMENSIONS,
    max_turns: int | None = 40,
    attempts: int = 3,
    concurrency: int = 4,
    on_record: Callable[[BaseModel], None] | None = None,
    state: JudgeRun | None = None,
) -> JudgeRun:
    """Rate every dialogue on every dimension, by every judge, ``runs`` times, appending to
    ``out/ratings.jsonl`` and skipping what it holds. Arguments as for
    :func:`~sweetiechat.eval.judge.ajudge_pairs`."""
    state = state or JudgeRun()
    path = Path(out) / "ratings.jsonl"
    todo = plan_questions(path, "dialogue", dialogues, judges, runs, dimensions, state)

    async def ask(dialogue: Dialogue, name: str, run: int, dim: Dimension) -> Rating:
        choice = await achoose(
            judges[name],
            rating_messages(dialogue, dim, max_turns=max_turns),
            list(RATING_OPTIONS),
            attempts=attempts,
            parse=parse_rating,
        )
        return Rating(
            dialogue=dialogue.id,
            judge=name,
            run=run,
            dimension=dim.name,
            rating=None if choice.fallback else int(choice.label),
            probabilities=choice.probabilities,
            reason=choice.reason if choice.fallback else "",
        )

    with JsonlWriter(path) as writer:
        await run_questions(todo, ask, concurrency, state, writer, on_record)
    return state
