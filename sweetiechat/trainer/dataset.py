"""The strategy-selection dataset: one example per supporter turn, built from dialogues.

Each example is the dialogue cut just before a supporter turn that has a strategy, and that
turn's gold strategy. The gold response is never part of the input; the counselor applies its
own window (the last 6 utterances, see docs/method.md) when it renders the cut dialogue.

>>> from sweetiechat.types import Dialogue, Turn
>>> d = Dialogue(id="d1", problem_type="Job Crisis", turns=[
...     Turn(role="seeker", text="I lost my job."),
...     Turn(role="supporter", text="What happened?", strategy="Question")])
>>> [(e.turn_index, len(e.context.turns), e.gold.value) for e in strategy_examples([d])]
[(1, 1, 'Question')]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from sweetiechat.errors import UserError
from sweetiechat.io import read_dialogues
from sweetiechat.taxonomy import Strategy
from sweetiechat.types import Dialogue

__all__ = [
    "SPLITS",
    "StrategyExample",
    "load_splits",
    "load_strategy_examples",
    "split_path",
    "strategy_examples",
]

#: The split names :func:`load_splits` looks for.
SPLITS = ("train", "valid", "test")
_SUFFIXES = (".json", ".jsonl")


@dataclass(frozen=True)
class StrategyExample:
    """One strategy-selection example: a dialogue history and the strategy that came next."""

    dialogue_id: str
    """The id of the dialogue the example comes from."""
    turn_index: int
    """Index of the supporter turn in the full dialogue's turns."""
    context: Dialogue
    """The dialogue cut just before that turn (``turns[:turn_index]``); never holds the gold
    response."""
    gold: Strategy
    """The strategy the human supporter used at that turn."""


def strategy_examples(dialogues: Iterable[Dialogue]) -> list[StrategyExample]:
    """One :class:`StrategyExample` per supporter turn that has a strategy.

    Args:
        dialogues: dialogues with strategy-annotated supporter turns (ESConv or generated).

    Returns:
        The examples in dialogue order, then turn order.
    """
    examples: list[StrategyExample] = []
    for dialogue in dialogues:
        for index, turn in enumerate(dialogue.turns):
            if turn.role != "supporter" or turn.strategy is None:
                continue
            context = dialogue.model_copy(update={"turns": list(dialogue.turns[:index])})
            examples.append(StrategyExample(dialogue.id, index, context, turn.strategy))
    return examples


def load_strategy_examples(path: str | Path, *, limit: int | None = None) -> list[StrategyExample]:
    """Read a dialogue file (ESConv ``.json``, our ``.jsonl``) into strategy examples.

    Args:
        path: the file; any format :func:`sweetiechat.io.read_dialogues` reads.
        limit: use only the first ``limit`` dialogues.

    Raises:
        DataError: the file is missing or has a bad record (an unknown strategy label is
            reported with the file and line).
        UserError: the file has no supporter turn with a strategy.
    """
    if limit is not None and limit < 1:
        raise UserError(f"limit must be at least 1, got {limit}")
    dialogues = read_dialogues(path)
    if limit is not None:
        dialogues = islice(dialogues, limit)
    examples = strategy_examples(dialogues)
    if not examples:
        raise UserError(
            f"{path}: no supporter turn with a strategy; a counselor needs dialogues whose "
            "supporter turns are annotated with one of the 8 strategies"
        )
    return examples


def split_path(data_dir: str | Path, split: str) -> Path:
    """The file of ``split`` in ``data_dir`` (``<split>.json`` or ``<split>.jsonl``).

    Raises:
        UserError: the folder or the file does not exist.
    """
    folder = Path(data_dir)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder; give the folder holding train/valid/test")
    for suffix in _SUFFIXES:
        candidate = folder / f"{split}{suffix}"
        if candidate.is_file():
            return candidate
    raise UserError(f"{folder}: no {split}.json or {split}.jsonl in this folder")


def load_splits(
    data_dir: str | Path,
    *,
    limit: int | None = None,
    splits: Iterable[str] = SPLITS,
) -> dict[str, list[StrategyExample]]:
    """Load the train, valid and test splits of a folder (as ESConv's are laid out).

    Args:
        data_dir: a folder with ``train``, ``valid`` and ``test`` as ``.json`` or ``.jsonl``.
        limit: use only the first ``limit`` dialogues of each split.
        splits: which splits to load.

    Returns:
        ``{"train": [...], "valid": [...], "test": [...]}``.
    """
    return {
        name: load_strategy_examples(split_path(data_dir, name), limit=limit) for name in splits
    }
