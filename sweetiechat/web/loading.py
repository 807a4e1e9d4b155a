"""Files in and out of the web database: pairs, datasets, LLM judgments, exports.

Each load reads and checks the whole input first, then writes it in one transaction, so a
malformed file leaves the database as it was.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from sweetiechat.errors import UserError
from sweetiechat.eval.judge import Judgment
from sweetiechat.web.dims import PAIRWISE_DIMENSIONS
from sweetiechat.web.store import PairRecord, Store

__all__ = [
    "export_chats",
    "export_rows",
    "import_judgments",
    "load_dataset_file",
    "load_pair_files",
    "render_export",
    "write_export",
]


def _turns(context: Iterable[Any]) -> list[dict[str, Any]]:
    out = []
    for t in context:
        d = t.model_dump(mode="json") if hasattr(t, "model_dump") else dict(t)
        out.append({"role": d["role"], "text": d["text"], "strategy": d.get("strategy")})
    return out


def load_pair_files(
    store: Store,
    a: Path,
    b: Path,
    name: str | None = None,
    *,
    mode: str | None = "reference",
    seed_a: int | None = None,
    seed_b: int | None = None,
) -> int:
    """Load two systems' responses (``agent eval`` generations or dialogue files) as a task.

    ``mode``, ``seed_a`` and ``seed_b`` pick the generations of one context mode and seed
    from a file that holds several (as :func:`sweetiechat.eval.pairs.load_pairs`).

    Returns:
        The new task's id.

    Raises:
        UserError: a missing, empty or malformed file, contexts that don't line up, or a task
            name already taken; nothing is stored then.
    """
    from sweetiechat.eval.pairs import load_pairs

    pairs = load_pairs(a, b, mode=mode, seed_a=seed_a, seed_b=seed_b)
    records = [PairRecord(p.id, _turns(p.context), p.response_a, p.response_b) for p in pairs]
    name = name or f"{Path(a).stem} vs {Path(b).stem}"
    return store.add_pairwise_task(name, records, source_a=str(a), source_b=str(b))


def load_dataset_file(store: Store, path: Path, name: str | None = None) -> int:
    """Load a dialogue file (any supported format) as a dataset-rating task; returns its id."""
    from sweetiechat.io import read_dialogues

    dialogues = [d.model_dump(mode="json") for d in read_dialogues(path)]
    if not dialogues:
        raise UserError(f"{path}: holds no dialogues to rate")
    return store.add_dataset_task(name or Path(path).stem, dialogues, source=str(path))


def _pairwise_task(store: Store, task: str | None) -> int:
    tasks = [t for t in store.tasks() if t.kind == "pairwise"]
    if task is not None:
        tasks = [t for t in tasks if t.name == task or str(t.id) == task]
    if not tasks:
        raise UserError(
            f"no pairwise task {task!r}" if task else "no pairwise task yet; run load-pairs first"
        )
    return tasks[-1].id


def import_judgments(store: Store, path: Path, task: str | None = None) -> int:
    """Import an LLM judge's ``judgments.jsonl`` for a pairwise task (the newest by default).

    Returns:
        The rows imported (rows already there are left as they are).

    Raises:
        UserError: naming the file and line of the first bad record; nothing is imported.
    """
    task_id = _pairwise_task(store, task)
    keys = {r["key"] for r in store.rows("SELECT key FROM items WHERE task_id = ?", (task_id,))}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: cannot read it ({err})") from err
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            rec = Judgment.model_validate_json(line)
        except ValueError as err:
            first = str(err).splitlines()
            detail = first[1] + ": " + first[2].strip() if len(first) > 2 else first[0]
            raise UserError(f"{where}: not a judgment ({detail})") from None
        if rec.dimension not in PAIRWISE_DIMENSIONS:
            raise UserError(f"{where}: unknown dimension {rec.dimension!r}")
        if rec.item not in keys:
            raise UserError(f"{where}: item {rec.item!r} is not in the task; wrong file?")
        rows.append(
            (task_id, rec.item, rec.judge, rec.run, rec.dimension, rec.order, rec.answer,
             rec.winner)
        )  # fmt: skip
    if not rows:
        raise UserError(f"{path}: holds no judgments")
    with store.transaction() as con:
        cur = con.executemany(
            "INSERT OR IGNORE INTO judgments (task_id, item_key, judge, run, dimension, ord, "
            "answer, winner) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        return int(cur.rowcount)


def export_rows(store: Store) -> list[dict[str, Any]]:
    """Every human answer: pairwise ones in the LLM judge's judgments format (``judge`` is the
    annotator's name, ``run`` 1), plus the task; dataset ratings with their ``rating``."""
    pairwise = store.rows(
        "SELECT t.name AS task, 'pairwise' AS kind, i.key AS item, n.name AS judge, 1 AS run, "
        "a.dimension, a.ord AS 'order', a.answer, a.winner, NULL AS rating, a.created_at "
        "FROM answers a JOIN items i ON i.id = a.item_id JOIN tasks t ON t.id = i.task_id "
        "JOIN annotators n ON n.id = a.annotator_id ORDER BY a.id"
    )
    ratings = store.rows(
        "SELECT t.name AS task, 'dataset' AS kind, i.key AS item, n.name AS judge, 1 AS run, "
        "r.dimension, NULL AS 'order', NULL AS answer, NULL AS winner, r.rating, r.created_at "
        "FROM ratings r JOIN items i ON i.id = r.item_id JOIN tasks t ON t.id = i.task_id "
        "JOIN annotators n ON n.id = r.annotator_id ORDER BY r.id"
    )
    return pairwise + ratings


def render_export(rows: list[dict[str, Any]], fmt: Literal["jsonl", "csv"]) -> str:
    """The rows as JSON lines or CSV text."""
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    buf = io.StringIO()
    fields = ["task", "kind", "item", "judge", "run", "dimension", "order", "answer", "winner",
              "rating", "created_at"]  # fmt: skip
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def write_export(store: Store, out: Path, fmt: Literal["jsonl", "csv"]) -> int:
    """Write every answer to ``out`` atomically; returns the number of rows."""
    rows = export_rows(store)
    text = render_export(rows, fmt)
    out = Path(out)
    fd, tmp = tempfile.mkstemp(dir=out.parent if str(out.parent) else ".", prefix=".export")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, out)
    return len(rows)


def export_chats(store: Store, out: Path) -> int:
    """Write every saved chat transcript to ``out`` as dialogues (JSONL, atomically), with
    the annotator's name in ``meta.annotator``; returns how many."""
    from sweetiechat.io import write_dialogues
    from sweetiechat.types import Dialogue

    rows = store.rows(
        "SELECT c.dialogue, n.name FROM chats c JOIN annotators n ON n.id = c.annotator_id "
        "ORDER BY c.id"
    )
    dialogues = []
    for r in rows:
        d = Dialogue.model_validate_json(r["dialogue"])
        dialogues.append(
            d.model_copy(update={"meta": d.meta.model_copy(update={"annotator": r["name"]})})
        )
    return write_dialogues(out, dialogues)
