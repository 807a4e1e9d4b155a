"""Two systems' responses to the same contexts, lined up for pairwise judging.

A side is either the ``generations.jsonl`` written by ``sweetiechat agent eval`` (one line per
response: ``id``, ``dialogue_id``, ``turn``, ``context``, ``response`` ...) or a dialogue file
in any format :func:`sweetiechat.io.read_dialogues` reads, whose items are its supporter
turns, each with the turns before it as context (id ``"<dialogue id>:<turn index>"``, as in
``agent eval``).

Items are matched by id, and the contexts must be the same on both sides. Two generations
files must hold the same items. A dialogue file offers every supporter turn, so next to a
generations file only the generations file's items are judged (if the generations were made
from the merged, greeting-free form of the dialogues, that form is matched instead).

>>> from pathlib import Path; import json, tempfile
>>> from sweetiechat.io import write_dialogues
>>> from sweetiechat.types import Dialogue, Turn
>>> folder = Path(tempfile.mkdtemp())
>>> def dialogue(reply):
...     turns = [Turn(role="seeker", text="I feel low."), Turn(role="supporter", text=reply)]
...     return Dialogue(id="d1", problem_type="Burnout", turns=turns)
>>> write_dialogues(folder / "a.jsonl", [dialogue("I'm sorry.")])
1
>>> write_dialogues(folder / "b.jsonl", [dialogue("Why?")])
1
>>> [(p.id, p.response_a, p.response_b) for p in load_pairs(folder / "a.jsonl", folder / "b.jsonl")]
[('d1:1', "I'm sorry.", 'Why?')]
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from sweetiechat.errors import UserError, first_problem
from sweetiechat.io import DataError, read_located
from sweetiechat.types import Dialogue, Turn

__all__ = [
    "PairItem",
    "ResponseItem",
    "SideKind",
    "dialogue_items",
    "load_pairs",
    "read_side",
    "side_kind",
]

SideKind = Literal["generations", "dialogues"]


class ResponseItem(BaseModel):
    """One system's response to one context."""

    model_config = ConfigDict(frozen=True)

    id: str
    """``"<dialogue id>:<turn index>"``."""
    dialogue_id: str
    """The dialogue the context comes from."""
    turn: int
    """The index of the response's turn in that dialogue."""
    context: tuple[Turn, ...]
    """The turns before the response, oldest first."""
    response: str
    """The response text."""
    strategy: str | None = None
    """The response's strategy, when known."""


class PairItem(BaseModel):
    """One context with two systems' responses to it."""

    model_config = ConfigDict(frozen=True)

    id: str
    """The item's id, ``"<dialogue id>:<turn index>"``."""
    context: tuple[Turn, ...]
    """The conversation so far, oldest first (the same for both responses)."""
    response_a: str
    """System A's response."""
    response_b: str
    """System B's response."""
    source_a: str
    """Where A's responses come from (the file's path)."""
    source_b: str
    """Where B's responses come from (the file's path)."""


def side_kind(path: str | Path) -> SideKind:
    """``"generations"`` for an ``agent eval`` generations file, else ``"dialogues"``.

    Raises:
        DataError: missing, empty or unreadable file.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(path, None, "no such file; check the path")
    if path.is_dir():
        raise DataError(path, None, "is a folder; give a file")
    first = ""
    with path.open("rb") as fh:
        for raw in fh:
            if raw.strip():
                first = raw.decode("utf-8", errors="replace").strip()
                break
    if not first:
        raise DataError(path, None, "file is empty; expected agent-eval generations or dialogues")
    if first.startswith("["):
        return "dialogues"
    try:
        record = json.loads(first)
    except json.JSONDecodeError:
        return "dialogues"  # the dialogue reader reports the bad line
    if isinstance(record, dict) and "response" in record and "context" in record:
        return "generations"
    return "dialogues"


def _read_generations(path: Path) -> Iterator[tuple[int, dict[str, Any], ResponseItem]]:
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                record: Any = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                raise DataError(path, number, "not UTF-8; re-encode it") from None
            except json.JSONDecodeError as err:
                raise DataError(path, number, f"not valid JSON ({err.msg})") from None
            if not isinstance(record, dict):
                raise DataError(path, number, "expected a JSON object")
            missing = [k for k in ("id", "context", "response") if k not in record]
            if missing:
                raise DataError(
                    path, number, f"missing field {missing[0]!r} (agent-eval generations)"
                )
            try:
                dialogue_id, _, turn = str(record["id"]).rpartition(":")
                item = ResponseItem(
                    id=str(record["id"]),
                    dialogue_id=str(record.get("dialogue_id", dialogue_id)),
                    turn=int(record.get("turn", turn if turn.isdigit() else -1)),
                    context=record["context"],
                    response=record["response"],
                    strategy=record.get("strategy"),
                )
            except ValidationError as err:
                field, message = first_problem(err, "record")
                raise DataError(path, number, f"field {field!r}: {message}") from None
            except (TypeError, ValueError) as err:
                raise DataError(path, number, f"bad field ({err})") from None
            yield number, record, item


def _select(
    path: Path, records: list[tuple[int, dict[str, Any], ResponseItem]], mode: str | None,
    seed: int | None,
) -> list[tuple[int, ResponseItem]]:  # fmt: skip
    """The records of one mode and one seed (agent eval writes both modes and every seed
    into one file)."""
    modes = sorted({str(r.get("mode")) for _, r, _ in records if r.get("mode") is not None})
    if mode is not None and modes:
        if mode not in modes:
            raise DataError(
                path, None, f"holds no {mode!r} responses (modes: {', '.join(modes)}); "
                "choose another mode"
            )  # fmt: skip
        records = [x for x in records if x[1].get("mode", mode) == mode]
    seeds = sorted({r["seed"] for _, r, _ in records if isinstance(r.get("seed"), int)})
    if seed is not None:
        if seed not in seeds:
            raise DataError(
                path, None, f"holds no responses of seed {seed} (seeds: "
                f"{', '.join(map(str, seeds)) or 'none'})"
            )  # fmt: skip
        records = [x for x in records if x[1].get("seed") == seed]
    elif len(seeds) > 1:
        raise DataError(
            path, None, f"holds the runs of seeds {', '.join(map(str, seeds))}; choose one "
            "(--seed-a / --seed-b)"
        )  # fmt: skip
    return [(number, item) for number, _, item in records]


def dialogue_items(dialogue: Dialogue) -> list[ResponseItem]:
    """A dialogue's supporter turns, each with the turns before it as context."""
    return [
        ResponseItem(
            id=f"{dialogue.id}:{i}",
            dialogue_id=dialogue.id,
            turn=i,
            context=tuple(dialogue.turns[:i]),
            response=t.text,
            strategy=t.strategy.value if t.strategy else None,
        )
        for i, t in enumerate(dialogue.turns)
        if t.role == "supporter" and i > 0
    ]


def read_side(
    path: str | Path, *, mode: str | None = "reference", seed: int | None = None
) -> tuple[SideKind, dict[str, ResponseItem]]:
    """One side's items by id.

    Args:
        path: agent-eval generations or a dialogue file.
        mode: for generations, the context mode to take (``reference`` or ``generated``;
            None: any, for a file of one mode).
        seed: for generations holding several seeds' runs, the one to take.

    Raises:
        DataError: a missing, empty or malformed file, a mode or seed it does not hold,
            several seeds and none chosen, or an id that occurs twice.
    """
    path = Path(path)
    kind = side_kind(path)
    items: dict[str, ResponseItem] = {}
    if kind == "generations":
        for number, item in _select(path, list(_read_generations(path)), mode, seed):
            if item.id in items:
                raise DataError(
                    path, number, f"item {item.id!r} occurs twice; judge one mode and seed per file"
                )
            items[item.id] = item
    else:
        for line, dialogue in read_located(path):
            for item in dialogue_items(dialogue):
                if item.id in items:
                    raise DataError(path, line, f"dialogue id {dialogue.id!r} occurs twice")
                items[item.id] = item
    if not items:
        raise DataError(path, None, "holds no supporter responses to judge")
    return kind, items


def _key(context: tuple[Turn, ...]) -> tuple[tuple[str, str], ...]:
    return tuple((t.role, " ".join(t.text.split()).lower()) for t in context)


def _variants(path: Path) -> Iterator[dict[str, ResponseItem]]:
    """A dialogue file's items as they are, merged, and merged without opening greetings."""
    from sweetiechat.io import read_dialogues
    from sweetiechat.normalize import normalise

    for drop in (False, True):
        items: dict[str, ResponseItem] = {}
        for d in read_dialogues(path):
            norm = normalise(d, merge_consecutive=True, drop_greetings=drop)
            items.update((i.id, i) for i in dialogue_items(norm))
        yield items


def _mismatch(item_id: str, a: Path, b: Path) -> UserError:
    return UserError(
        f"{a} and {b}: the contexts of item {item_id!r} differ; pairwise judging needs both "
        "systems' responses to the same contexts (e.g. agent eval's reference-context mode)"
    )


def load_pairs(
    a: str | Path,
    b: str | Path,
    *,
    mode: str | None = "reference",
    seed_a: int | None = None,
    seed_b: int | None = None,
) -> list[PairItem]:
    """Line up system A's and system B's responses to the same contexts.

    Args:
        a: system A: ``agent eval`` generations or a dialogue file.
        b: system B: the same.
        mode: which of agent eval's context modes to take from a generations file (the
            ``reference`` mode's contexts are the human dialogue, so they line up between
            systems; ``generated`` ones only for the same system).
        seed_a: for generations of several seeds, the seed to take from A.
        seed_b: the same for B.

    Returns:
        The items, in A's order (B's order when A is a dialogue file and B is not).

    Raises:
        UserError: a missing, empty or malformed file (naming the file and line); items on
            one side only; contexts that differ.
    """
    a, b = Path(a), Path(b)
    kind_a, items_a = read_side(a, mode=mode, seed=seed_a)
    kind_b, items_b = read_side(b, mode=mode, seed=seed_b)
    if kind_a != kind_b:  # a dialogue file offers every turn: keep the generations' items
        gen_path, gen = (a, items_a) if kind_a == "generations" else (b, items_b)
        dia_path, dia = (b, items_b) if kind_a == "generations" else (a, items_a)

        def fit(c: dict[str, ResponseItem]) -> int:
            return sum(
                1 for k, v in gen.items() if k in c and _key(c[k].context) == _key(v.context)
            )

        best = dia
        if fit(dia) < len(gen):  # not as the file has them: try the normalised forms
            best = max([dia, *_variants(dia_path)], key=fit)
        missing = [k for k in gen if k not in best]
        if missing:
            raise UserError(
                f"{gen_path}: item {missing[0]!r} (and {len(missing) - 1} more) is not a "
                f"supporter turn of {dia_path}; are they the same dialogues?"
            )
        dia = {k: best[k] for k in gen}
        items_a, items_b = (gen, dia) if kind_a == "generations" else (dia, gen)
    else:
        only_a = [k for k in items_a if k not in items_b]
        only_b = [k for k in items_b if k not in items_a]
        if only_a or only_b:
            side, path, ids = ("A", a, only_a) if only_a else ("B", b, only_b)
            raise UserError(
                f"{a} has {len(items_a)} items and {b} has {len(items_b)}; {len(ids)} are only "
                f"in {side} ({path}), e.g. {ids[0]!r}: give both systems the same contexts"
            )
    pairs = []
    for key, ia in items_a.items():
        ib = items_b[key]
        if _key(ia.context) != _key(ib.context):
            raise _mismatch(key, a, b)
        pairs.append(
            PairItem(
                id=key,
                context=ia.context,
                response_a=ia.response,
                response_b=ib.response,
                source_a=str(a),
                source_b=str(b),
            )
        )
    return pairs
