"""Evaluate a supporter agent on ESConv: the generations file and the two context modes.

At every supporter turn of a dialogue that follows at least one seeker turn (an opening
greeting before the seeker has said anything has nothing to answer and keeps its human
text), the agent writes a response, compared later with the human one. Two modes, as in
the paper (Ye et al., COLING 2025; see docs/method.md):

- ``reference``: the history is the human dialogue up to that turn;
- ``generated``: the agent's own earlier responses replace the human supporter turns in the
  history (the seeker's turns stay the human ones), so errors compound as in a real chat.

Every response is one line of ``generations.jsonl`` (:class:`GenerationRecord`), appended as
it is written, so a crash loses at most the responses in flight and a rerun resumes::

    {"id": "esconv-test-0003:5", "dialogue_id": "esconv-test-0003", "turn": 5,
     "mode": "generated", "seed": 0, "system": "You are a warm ...",
     "context": [{"role": "seeker", "text": "...", "strategy": null}, ...],
     "reference": "...", "response": "...", "strategy": null}

``context`` is the whole history in that mode (what a judge should read); a local model
whose window is too short gets it cut from the left (counted in ``metrics.json``).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from sweetiechat.errors import UserError
from sweetiechat.io import JsonlWriter
from sweetiechat.types import Dialogue, Turn

__all__ = [
    "GENERATIONS",
    "MODES",
    "Chain",
    "ContextTurn",
    "GenerationRecord",
    "Mode",
    "build_chains",
    "read_generations",
    "supporter_targets",
]

#: The generations file in an evaluation folder.
GENERATIONS = "generations.jsonl"

Mode = Literal["reference", "generated"]
#: The two context modes, in the order they are reported.
MODES: tuple[Mode, ...] = ("reference", "generated")

#: What a blank response becomes in a later generated-context history (a turn is never empty).
BLANK = "..."


class ContextTurn(BaseModel):
    """One utterance of the history a response was written after."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["seeker", "supporter"]
    """Who spoke."""
    text: str
    """What was said (in generated mode, the agent's own earlier responses)."""
    strategy: str | None = None
    """The supporter turn's strategy: the human label, or the tag the agent wrote."""


class GenerationRecord(BaseModel):
    """One generated response: a line of ``generations.jsonl``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    """``<dialogue_id>:<turn index>``; the same in both modes and every seed."""
    dialogue_id: str
    """The dialogue's id (ESConv splits: ``esconv-<split>-<line - 1>``)."""
    turn: int
    """Index of the supporter turn in the dialogue's turns."""
    mode: Mode
    """``reference`` or ``generated`` context."""
    seed: int
    """The run: the sampling seed, or the training seed of the adapter evaluated."""
    system: str
    """The system prompt the agent was given."""
    context: list[ContextTurn]
    """The history before the turn, in this mode."""
    reference: str
    """The human supporter's response."""
    response: str
    """The agent's response (a strategy tag stripped off)."""
    strategy: str | None = None
    """The strategy tag the agent wrote, for an agent trained to tag its replies."""

    @property
    def key(self) -> tuple[str, int, str]:
        """(mode, seed, id): unique within an evaluation folder."""
        return (self.mode, self.seed, self.id)


def supporter_targets(dialogue: Dialogue) -> list[int]:
    """Indices of the supporter turns evaluated: those after the first seeker turn.

    >>> from sweetiechat.types import Turn
    >>> d = Dialogue(id="d", problem_type="job crisis", turns=[
    ...     Turn(role="supporter", text="Hi."), Turn(role="seeker", text="I lost my job."),
    ...     Turn(role="supporter", text="I am sorry."), Turn(role="supporter", text="How?")])
    >>> supporter_targets(d)
    [2, 3]
    """
    first = next((i for i, t in enumerate(dialogue.turns) if t.role == "seeker"), None)
    if first is None:
        return []
    return [i for i, t in enumerate(dialogue.turns) if i > first and t.role == "supporter"]


@dataclass
class Chain:
    """The supporter turns of one dialogue still to answer, in one mode.

    In ``generated`` mode one chain walks a dialogue's targets in order, each response
    replacing the human turn in the later histories. In ``reference`` mode every target is a
    chain of its own (they do not depend on each other, so they batch freely).
    """

    dialogue: Dialogue
    mode: Mode
    targets: list[int]
    own: dict[int, Turn] = field(default_factory=dict)
    """Generated mode: the agent's responses so far, by turn index."""

    @property
    def pending(self) -> bool:
        """True while a target is left."""
        return bool(self.targets)

    @property
    def turn(self) -> int:
        """The turn index answered next."""
        return self.targets[0]

    def history(self) -> list[Turn]:
        """The turns before :attr:`turn`, with the agent's own responses in generated mode."""
        return [self.own.get(i, t) for i, t in enumerate(self.dialogue.turns[: self.turn])]

    def context_dialogue(self) -> Dialogue:
        """The dialogue cut to :meth:`history` (for the prompt builders)."""
        return self.dialogue.model_copy(update={"turns": self.history()})

    def advance(self, response: str, strategy: str | None) -> None:
        """Record the response to :attr:`turn` and move to the next target."""
        turn = self.targets.pop(0)
        if self.mode == "generated":
            self.own[turn] = Turn(
                role="supporter", text=response.strip() or BLANK, strategy=strategy
            )

    def record(
        self, seed: int, system: str, response: str, strategy: str | None
    ) -> GenerationRecord:
        """The record of a response to :attr:`turn` (call before :meth:`advance`)."""
        turn = self.turn
        return GenerationRecord(
            id=f"{self.dialogue.id}:{turn}",
            dialogue_id=self.dialogue.id,
            turn=turn,
            mode=self.mode,
            seed=seed,
            system=system,
            context=[
                ContextTurn(
                    role=t.role, text=t.text, strategy=t.strategy.value if t.strategy else None
                )
                for t in self.history()
            ],
            reference=self.dialogue.turns[turn].text,
            response=response.strip(),
            strategy=strategy,
        )


def build_chains(
    dialogues: Sequence[Dialogue],
    mode: Mode,
    done: dict[str, GenerationRecord] | None = None,
) -> list[Chain]:
    """The work of one mode and run, skipping the targets already in ``done`` (by ``id``).

    In generated mode the responses already written are replayed into the history, so a
    resumed run continues exactly where it stopped.
    """
    done = done or {}
    chains: list[Chain] = []
    for dialogue in dialogues:
        targets = supporter_targets(dialogue)
        if mode == "reference":
            chains += [
                Chain(dialogue, mode, [t]) for t in targets if f"{dialogue.id}:{t}" not in done
            ]
            continue
        chain = Chain(dialogue, mode, list(targets))
        while chain.pending and (old := done.get(f"{dialogue.id}:{chain.turn}")) is not None:
            chain.advance(old.response, old.strategy)
        if chain.pending:
            chains.append(chain)
    return chains


def read_generations(path: str | Path) -> Iterator[GenerationRecord]:
    """Stream the records of a ``generations.jsonl`` file (a torn last line is skipped).

    Raises:
        UserError: a missing file, or a line that is not a generation record (names the line).
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file; run sweetiechat agent eval --out DIR first")
    with path.open(encoding="utf-8") as fh:
        lines = fh.readlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield GenerationRecord.model_validate_json(line)
        except ValidationError as err:
            if number == len(lines) and not line.endswith("\n"):
                warnings.warn(f"{path}:{number}: last line is cut off; skipped it", stacklevel=2)
                continue
            problem = err.errors()[0]
            where = ".".join(str(p) for p in problem["loc"]) or "line"
            raise UserError(
                f"{path}:{number}: not a generation record ({where}: {problem['msg']})"
            ) from None


def done_by_run(path: Path) -> dict[tuple[str, int], dict[str, GenerationRecord]]:
    """The records already written, by (mode, seed), then by id (for resuming)."""
    done: dict[tuple[str, int], dict[str, GenerationRecord]] = {}
    if path.is_file():
        for rec in read_generations(path):
            done.setdefault((rec.mode, rec.seed), {})[rec.id] = rec
    return done


class GenerationsWriter:
    """Appends records to ``generations.jsonl``, each line whole (see :class:`JsonlWriter`)."""

    def __init__(self, path: Path) -> None:
        self._writer = JsonlWriter(path)

    def write(self, record: GenerationRecord) -> None:
        """Append one record."""
        self._writer.write(json.loads(record.model_dump_json()))

    def write_all(self, records: Iterable[GenerationRecord]) -> None:
        """Append several records."""
        for record in records:
            self.write(record)

    def close(self) -> None:
        """Close the file."""
        self._writer.close()
