"""The pairwise LLM judge: which of two responses is better, on the paper's 7 dimensions.

Each item (a context with system A's and system B's responses, see
:func:`sweetiechat.eval.pairs.load_pairs`) is shown to every judge once per run and
dimension, and the judge chooses ``A``, ``B`` or ``tie`` through the ``choose`` capability
(:func:`sweetiechat.backends.choice.achoose`): a served model is asked and its answer parsed,
a local model scores the three labels. Which system is shown first is drawn per item and run
from the seed, recorded as ``order`` (``"AB"``: system A shown first), and undone in
``winner``. An answer that names no option is asked again, then recorded as missing
(``answer`` and ``winner`` null), never as a tie.

Every judgment is one line of ``judgments.jsonl``, appended and fsynced as it is made, so an
interrupted run resumes where it stopped::

    {"item": "d1:3", "judge": "gpt-4o-mini", "run": 1, "dimension": "Empathy",
     "order": "BA", "answer": "A", "winner": "b"}

>>> order_for(0, 1, "d1:3") in ("AB", "BA")
True
>>> undo_order("A", "BA"), undo_order("tie", "BA"), undo_order(None, "AB")
('b', 'tie', None)
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from sweetiechat.backends.base import Message
from sweetiechat.backends.choice import achoose
from sweetiechat.errors import UserError
from sweetiechat.eval.judge_dims import DIMENSIONS, PAIRWISE_OPTIONS, Dimension
from sweetiechat.eval.pairs import PairItem
from sweetiechat.io import JsonlWriter
from sweetiechat.types import Turn

__all__ = [
    "JUDGE_SYSTEM",
    "JudgeRun",
    "Judgment",
    "ajudge_pairs",
    "check_run_folder",
    "order_for",
    "pairwise_messages",
    "parse_pairwise",
    "read_jsonl_records",
    "read_judgments",
    "render_context",
    "run_questions",
    "undo_order",
]

#: The judge's system prompt; its opening words identify a judge request (the test server's
#: scripts look for them).
JUDGE_SYSTEM = (
    "You are an impartial expert judge of emotional-support conversations. A person (the "
    "seeker) is talking to a supporter about something that distresses them. You compare two "
    "candidate replies of the supporter to the same conversation, on one quality at a time. "
    "Judge only that quality; do not let the order of the replies or their length sway you."
)

Order = Literal["AB", "BA"]
_EMPTY = "(an empty reply)"


class Judgment(BaseModel):
    """One judge's answer on one dimension for one item in one run."""

    model_config = ConfigDict(extra="ignore")

    item: str
    """The item's id (``"<dialogue id>:<turn index>"``)."""
    judge: str
    """The judge's name (its model)."""
    run: int
    """The run, from 1: the same judge asked again gives self-agreement."""
    dimension: str
    """The dimension's name, one of :data:`~sweetiechat.eval.judge_dims.DIMENSIONS`."""
    order: Order
    """``"AB"``: system A's response was shown first (as "Response A"); ``"BA"``: B's was."""
    answer: Literal["A", "B", "tie"] | None
    """The judge's answer in the order shown; None when no usable answer came back."""
    winner: Literal["a", "b", "tie"] | None
    """The answer in the systems' terms (order undone); None when missing."""
    probabilities: dict[str, float] | None = None
    """P(A), P(B), P(tie) when the judge can tell (a local model scoring the labels)."""
    reason: str = ""
    """Why the answer is missing (empty otherwise)."""


def order_for(seed: int, run: int, item: str) -> Order:
    """The order an item is shown in, in a run: the same for every judge and dimension, drawn
    from a hash of (seed, run, item) so it does not depend on the items' order or number."""
    digest = hashlib.sha256(f"{seed}\x1f{run}\x1f{item}".encode()).digest()
    return "AB" if digest[0] % 2 == 0 else "BA"


def undo_order(answer: str | None, order: Order) -> Literal["a", "b", "tie"] | None:
    """The winner in the systems' terms of ``answer`` given in the order shown."""
    if answer is None:
        return None
    if answer == "tie":
        return "tie"
    first_is_a = order == "AB"
    if answer == "A":
        return "a" if first_is_a else "b"
    if answer == "B":
        return "b" if first_is_a else "a"
    raise ValueError(f"unknown answer {answer!r}")


def render_context(context: Sequence[Turn], window: int | None = None) -> str:
    """The conversation as ``Seeker: ...`` / ``Supporter: ...`` lines, the last ``window``
    turns (all when None), with a note when earlier ones were left out."""
    turns = list(context)
    shown = turns[-window:] if window else turns
    lines = (
        [f"(the {len(turns) - len(shown)} earlier turns are not shown)"]
        if len(shown) < len(turns)
        else []
    )
    lines += [f"{'Seeker' if t.role == 'seeker' else 'Supporter'}: {t.text}" for t in shown]
    return "\n".join(lines) if lines else "(the conversation starts here)"


def pairwise_messages(
    item: PairItem, dim: Dimension, order: Order, *, window: int | None = 8
) -> list[Message]:
    """The judge's prompt for one item and dimension, responses in ``order``."""
    first, second = (
        (item.response_a, item.response_b) if order == "AB" else (item.response_b, item.response_a)
    )
    user = (
        f"Conversation so far:\n{render_context(item.context, window)}\n\n"
        f"Two candidate replies of the supporter:\nResponse A: {first or _EMPTY}\n"
        f"Response B: {second or _EMPTY}\n\n"
        f"Quality to judge: {dim.name}. {dim.question}\n"
        "Answer with exactly one of: A, B, tie."
    )
    return [("system", JUDGE_SYSTEM), ("user", user)]


_PAIRWISE = re.compile(r"^\W*(?:(?:the\s+)?(?:better\s+)?response\s+)?(A|B)\b(?!['’])", re.I)
_TIE = re.compile(r"^\W*(tie|equal|both equally)\b", re.I)


def parse_pairwise(text: str) -> str | None:
    """``"A"``, ``"B"`` or ``"tie"`` from an answer that starts with one (``"Response B."``,
    ``"**A** - it is warmer"``, ``"Tie"``), else None (then the tolerant general parser of
    :func:`~sweetiechat.backends.choice.parse_choice` is tried).

    >>> parse_pairwise("Response B, because it asks."), parse_pairwise("tie.")
    ('B', 'tie')
    >>> parse_pairwise("Both are fine") is None
    True
    """
    if _TIE.match(text):
        return "tie"
    match = _PAIRWISE.match(text)
    if match is None:
        return None
    label = match.group(1)
    if label == "a" and re.match(r"^\W*a\s+\w", text):  # "a lot", "a better one": prose
        return None
    return label.upper()


def read_jsonl_records(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a file written append-only, skipping a torn last line (a crash
    mid-write).

    Raises:
        UserError: a bad line that is not the last.
    """
    if not path.exists():
        return []
    records: list[dict[str, Any]] = []
    lines = path.read_bytes().split(b"\n")
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            if number == len(lines):  # no newline after it: an interrupted write
                continue
            raise UserError(
                f"{path}:{number}: not valid JSON; delete the line or the file"
            ) from None
        if isinstance(record, dict):
            records.append(record)
    return records


def read_judgments(path: str | Path) -> list[Judgment]:
    """The judgments of a ``judgments.jsonl`` file (or of the folder holding one).

    Raises:
        UserError: a malformed line (naming the file and line).
    """
    path = Path(path)
    if path.is_dir():
        path = path / "judgments.jsonl"
    if not path.is_file():
        raise UserError(f"{path}: no such file; run `sweetiechat judge pairwise` first")
    out = []
    for i, record in enumerate(read_jsonl_records(path), start=1):
        try:
            out.append(Judgment.model_validate(record))
        except ValueError as err:
            raise UserError(f"{path}: record {i}: not a judgment ({err})".splitlines()[0]) from None
    return out


def check_run_folder(out: Path, signature: dict[str, Any]) -> None:
    """Start or resume a run folder: ``run.json`` records what is judged; a folder that holds
    judgments of other inputs or settings is refused, so two runs never mix.

    Raises:
        UserError: ``out`` is a file, or its ``run.json`` differs from ``signature``.
    """
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder; give a folder for --out")
    meta = out / "run.json"
    if meta.is_file():
        try:
            before = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            raise UserError(f"{meta}: unreadable; delete the folder to start again") from None
        changed = sorted(k for k in signature if before.get(k) != signature[k])
        if changed:
            raise UserError(
                f"{out} holds judgments of other inputs or settings ({', '.join(changed)} "
                "differ); use another --out, or delete the folder"
            )
        return
    out.mkdir(parents=True, exist_ok=True)
    tmp = meta.with_name("run.json.tmp")
    tmp.write_text(json.dumps(signature, indent=2) + "\n", encoding="utf-8")
    tmp.replace(meta)


@dataclass
class JudgeRun:
    """What a judging run did (updated as it goes, for progress displays)."""

    total: int = 0
    """Judgments the run should end with."""
    done: int = 0
    """Judgments already in the file when it started (resumed)."""
    written: int = 0
    """Judgments written now."""
    missing: int = 0
    """Of those, answers recorded as missing."""
    failures: dict[str, str] = field(default_factory=dict)
    """Calls that raised (not written, so a rerun retries them): key -> error."""


def plan_questions(
    path: Path,
    field: str,
    units: Sequence[Any],
    judges: Iterable[str],
    runs: int,
    dimensions: Sequence[Dimension],
    state: JudgeRun,
) -> list[tuple[Any, str, int, Dimension]]:
    """Every (unit, judge, run, dimension) question, unit by unit (so that a run cut short
    holds whole units), less those ``path`` already records (the unit's id under ``field``);
    sets ``state.total`` and ``state.done``."""
    seen = {
        (r.get(field), r.get("judge"), r.get("run"), r.get("dimension"))
        for r in read_jsonl_records(path)
    }
    keys = [
        (unit, name, run, dim)
        for unit in units
        for run in range(1, runs + 1)
        for name in judges
        for dim in dimensions
    ]
    state.total = len(keys)
    todo = [k for k in keys if (k[0].id, k[1], k[2], k[3].name) not in seen]
    state.done = len(keys) - len(todo)
    return todo


async def run_questions(
    keys: Iterable[tuple[Any, ...]],
    ask: Callable[..., Any],
    concurrency: int,
    state: JudgeRun,
    writer: JsonlWriter,
    on_record: Callable[[BaseModel], None] | None,
) -> None:
    """Await ``ask(*key)`` for every key, ``concurrency`` at a time, appending each record
    to ``writer`` as it comes; a call that raises is counted in ``state.failures`` and
    nothing is written for it (a rerun asks again)."""
    gate = asyncio.Semaphore(concurrency)

    async def one(key: tuple[Any, ...]) -> None:
        async with gate:
            try:
                record = await ask(*key)
            except Exception as err:  # recorded as a failure, not as an answer
                name = "/".join(str(getattr(k, "id", getattr(k, "name", k))) for k in key)
                state.failures[name] = f"{type(err).__name__}: {err}"[:300]
                return
        writer.write(record.model_dump(mode="json"))
        state.written += 1
        if getattr(record, "reason", ""):
            state.missing += 1
        if on_record is not None:
            on_record(record)

    await asyncio.gather(*(one(k) for k in keys))


async def ajudge_pairs(
    items: Sequence[PairItem],
    judges: dict[str, Any],
    out: str | Path,
    *,
    runs: int = 1,
    seed: int = 0,
    dimensions: Sequence[Dimension] = DIMENSIONS,
    window: int | None = 8,
    attempts: int = 3,
    concurrency: int = 4,
    on_record: Callable[[BaseModel], None] | None = None,
    state: JudgeRun | None = None,
) -> JudgeRun:
    """Judge every item on every dimension, by every judge, ``runs`` times.

    Args:
        items: the pairs (:func:`~sweetiechat.eval.pairs.load_pairs`).
        judges: name -> backend (anything :func:`~sweetiechat.backends.choice.achoose` takes).
        out: the folder; ``judgments.jsonl`` is appended to, and what it holds is skipped.
        runs: runs 1..runs are made (a later call with more runs adds to the earlier ones).
        seed: draws each item's order per run.
        dimensions: the dimensions judged.
        window: turns of context shown (None: all).
        attempts: tries per question for a judge that is asked (then missing).
        concurrency: questions in flight at once.
        on_record: called with each judgment written.
        state: a :class:`JudgeRun` to update (a new one when None).
    """
    state = state or JudgeRun()
    path = Path(out) / "judgments.jsonl"
    todo = plan_questions(path, "item", items, judges, runs, dimensions, state)

    async def ask(item: PairItem, name: str, run: int, dim: Dimension) -> Judgment:
        order = order_for(seed, run, item.id)
        choice = await achoose(
            judges[name],
            pairwise_messages(item, dim, order, window=window),
            list(PAIRWISE_OPTIONS),
            attempts=attempts,
            parse=parse_pairwise,
        )
        answer = None if choice.fallback else choice.label
        return Judgment(
            item=item.id,
            judge=name,
            run=run,
            dimension=dim.name,
            order=order,
            answer=answer,
            winner=undo_order(answer, order),
            probabilities=choice.probabilities,
            reason=choice.reason if choice.fallback else "",
        )

    with JsonlWriter(path) as writer:
        await run_questions(todo, ask, concurrency, state, writer, on_record)
    return state
