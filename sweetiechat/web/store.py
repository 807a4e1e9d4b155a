"""The web app's SQLite database: tasks, items, annotators, their answers, LLM judgments, chats.

Every write is one transaction (``BEGIN IMMEDIATE``), so a failed upload or a half-filled form
leaves nothing behind. Answers are unique per (annotator, item, dimension): a double submit
inserts nothing the second time. WAL mode lets readers work while one writer commits.

>>> import tempfile, pathlib
>>> store = Store(pathlib.Path(tempfile.mkdtemp()) / "eval.sqlite")
>>> task = store.add_pairwise_task("demo", [PairRecord("d1:1", [], "Hi.", "Hello.")])
>>> alice = store.add_annotator("alice")
>>> store.next_item(task, alice.id) is not None
True
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sweetiechat.errors import UserError
from sweetiechat.web.dims import DATASET_DIMENSIONS, PAIRWISE_DIMENSIONS, RATING_SCALE

__all__ = ["Annotator", "Item", "PairRecord", "Store", "Task"]

TaskKind = Literal["pairwise", "dataset"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
  id INTEGER PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('pairwise', 'dataset')),
  name TEXT NOT NULL UNIQUE, source_a TEXT, source_b TEXT, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS items (
  id INTEGER PRIMARY KEY, task_id INTEGER NOT NULL REFERENCES tasks(id),
  position INTEGER NOT NULL, key TEXT NOT NULL, payload TEXT NOT NULL,
  UNIQUE (task_id, key), UNIQUE (task_id, position));
CREATE TABLE IF NOT EXISTS annotators (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, token TEXT NOT NULL UNIQUE,
  created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS shown (
  annotator_id INTEGER NOT NULL REFERENCES annotators(id),
  item_id INTEGER NOT NULL REFERENCES items(id),
  swapped INTEGER NOT NULL CHECK (swapped IN (0, 1)), shown_at REAL NOT NULL,
  PRIMARY KEY (annotator_id, item_id));
CREATE TABLE IF NOT EXISTS answers (
  id INTEGER PRIMARY KEY, annotator_id INTEGER NOT NULL REFERENCES annotators(id),
  item_id INTEGER NOT NULL REFERENCES items(id), dimension TEXT NOT NULL,
  ord TEXT NOT NULL CHECK (ord IN ('AB', 'BA')),
  answer TEXT NOT NULL CHECK (answer IN ('A', 'B', 'tie')),
  winner TEXT NOT NULL CHECK (winner IN ('a', 'b', 'tie')), created_at REAL NOT NULL,
  UNIQUE (annotator_id, item_id, dimension));
CREATE TABLE IF NOT EXISTS ratings (
  id INTEGER PRIMARY KEY, annotator_id INTEGER NOT NULL REFERENCES annotators(id),
  item_id INTEGER NOT NULL REFERENCES items(id), dimension TEXT NOT NULL,
  rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5), created_at REAL NOT NULL,
  UNIQUE (annotator_id, item_id, dimension));
CREATE TABLE IF NOT EXISTS judgments (
  id INTEGER PRIMARY KEY, task_id INTEGER NOT NULL REFERENCES tasks(id), item_key TEXT NOT NULL,
  judge TEXT NOT NULL, run INTEGER NOT NULL, dimension TEXT NOT NULL,
  ord TEXT CHECK (ord IN ('AB', 'BA')), answer TEXT CHECK (answer IN ('A', 'B', 'tie')),
  winner TEXT CHECK (winner IN ('a', 'b', 'tie')),
  UNIQUE (task_id, item_key, judge, run, dimension));
CREATE TABLE IF NOT EXISTS chats (
  id INTEGER PRIMARY KEY, annotator_id INTEGER NOT NULL REFERENCES annotators(id),
  dialogue TEXT NOT NULL, updated_at REAL NOT NULL);
"""


@dataclass(frozen=True)
class PairRecord:
    """One pairwise item before it is stored: a context and the two systems' responses."""

    key: str
    """The item's id in its source files (e.g. ``"<dialogue_id>:<turn>"``)."""
    context: list[dict[str, Any]]
    """The turns before the responses, as ``{"role", "text", "strategy"}`` dicts."""
    a: str
    """System A's response."""
    b: str
    """System B's response."""


@dataclass(frozen=True)
class Task:
    """A stored task."""

    id: int
    kind: TaskKind
    name: str
    source_a: str | None
    source_b: str | None
    items: int


@dataclass(frozen=True)
class Annotator:
    """A person with a personal link ``/annotate/<token>``."""

    id: int
    name: str
    token: str


@dataclass(frozen=True)
class Item:
    """An item as one annotator sees it (``swapped``: B's response is shown first)."""

    id: int
    task_id: int
    position: int
    key: str
    payload: dict[str, Any]
    swapped: bool


class Store:
    """The app's database at ``path`` (created with its schema when missing).

    Args:
        path: The SQLite file.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise UserError(f"{self.path} is a folder; give --db a file such as eval.sqlite")
        if not self.path.parent.is_dir():
            raise UserError(f"{self.path.parent} does not exist; create it or pick another --db")
        try:
            with self.connect() as con:
                con.execute("PRAGMA journal_mode=WAL")
                con.executescript(_SCHEMA)
        except sqlite3.DatabaseError as err:
            raise UserError(f"{self.path} is not a sweetiechat web database ({err})") from err

    # -- connections -------------------------------------------------------------------------
    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A fresh connection in autocommit mode (closed on exit)."""
        con = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        con.row_factory = sqlite3.Row
        con.execute("PRAGMA foreign_keys=ON")
        con.execute("PRAGMA busy_timeout=60000")
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: all of it commits, or none of it (rolled back on error)."""
        with self.connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def secret(self, name: str) -> str:
        """A random secret created once per database (e.g. the CSRF key)."""
        with self.transaction() as con:
            row = con.execute("SELECT value FROM meta WHERE key = ?", (name,)).fetchone()
            if row:
                return str(row["value"])
            value = secrets.token_urlsafe(32)
            con.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (name, value))
            return value

    # -- tasks -------------------------------------------------------------------------------
    def _add_task(
        self,
        kind: TaskKind,
        name: str,
        payloads: Sequence[tuple[str, dict[str, Any]]],
        sources: tuple[str | None, str | None],
    ) -> int:
        if not payloads:
            raise UserError(f"task {name!r} has no items; the input files are empty")
        keys = [k for k, _ in payloads]
        if len(set(keys)) != len(keys):
            dup = next(k for k in keys if keys.count(k) > 1)
            raise UserError(f"item id {dup!r} appears twice; ids must be unique within a task")
        with self.transaction() as con:
            if con.execute("SELECT 1 FROM tasks WHERE name = ?", (name,)).fetchone():
                raise UserError(f"a task named {name!r} exists already; pick another --name")
            cur = con.execute(
                "INSERT INTO tasks (kind, name, source_a, source_b, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (kind, name, sources[0], sources[1], time.time()),
            )
            task_id = int(cur.lastrowid or 0)
            con.executemany(
                "INSERT INTO items (task_id, position, key, payload) VALUES (?, ?, ?, ?)",
                [
                    (task_id, i, key, json.dumps(payload, ensure_ascii=False))
                    for i, (key, payload) in enumerate(payloads)
                ],
            )
        return task_id

    def add_pairwise_task(
        self,
        name: str,
        pairs: Sequence[PairRecord],
        *,
        source_a: str | None = None,
        source_b: str | None = None,
    ) -> int:
        """Store a pairwise task in one transaction; returns its id."""
        payloads = [(p.key, {"context": p.context, "a": p.a, "b": p.b}) for p in pairs]
        return self._add_task("pairwise", name, payloads, (source_a, source_b))

    def add_dataset_task(
        self, name: str, dialogues: Sequence[Mapping[str, Any]], *, source: str | None = None
    ) -> int:
        """Store a dataset-rating task (one item per dialogue, as its JSON dict)."""
        payloads = [(str(d["id"]), {"dialogue": dict(d)}) for d in dialogues]
        return self._add_task("dataset", name, payloads, (source, None))

    def tasks(self) -> list[Task]:
        """All tasks, oldest first."""
        with self.connect() as con:
            rows = con.execute(
                "SELECT t.*, (SELECT COUNT(*) FROM items i WHERE i.task_id = t.id) AS n "
                "FROM tasks t ORDER BY t.id"
            ).fetchall()
        return [
            Task(r["id"], r["kind"], r["name"], r["source_a"], r["source_b"], r["n"]) for r in rows
        ]

    def task(self, task_id: int) -> Task | None:
        """One task, or None."""
        return next((t for t in self.tasks() if t.id == task_id), None)

    # -- annotators --------------------------------------------------------------------------
    def add_annotator(self, name: str) -> Annotator:
        """Create an annotator with a fresh unguessable token."""
        name = name.strip()
        if not name:
            raise UserError("an annotator needs a name")
        token = secrets.token_urlsafe(18)
        try:
            with self.transaction() as con:
                cur = con.execute(
                    "INSERT INTO annotators (name, token, created_at) VALUES (?, ?, ?)",
                    (name, token, time.time()),
                )
        except sqlite3.IntegrityError as err:
            raise UserError(f"an annotator named {name!r} exists already") from err
        return Annotator(int(cur.lastrowid or 0), name, token)

    def annotators(self) -> list[Annotator]:
        """All annotators."""
        with self.connect() as con:
            rows = con.execute("SELECT id, name, token FROM annotators ORDER BY id").fetchall()
        return [Annotator(r["id"], r["name"], r["token"]) for r in rows]

    def annotator_by_token(self, token: str) -> Annotator | None:
        """The annotator with this token, or None."""
        with self.connect() as con:
            row = con.execute(
                "SELECT id, name, token FROM annotators WHERE token = ?", (token,)
            ).fetchone()
        return Annotator(row["id"], row["name"], row["token"]) if row else None

    # -- annotating --------------------------------------------------------------------------
    def progress(self, task_id: int, annotator_id: int) -> tuple[int, int]:
        """(items this annotator finished, items in the task)."""
        table = "answers" if self._kind(task_id) == "pairwise" else "ratings"
        with self.connect() as con:
            done = con.execute(
                f"SELECT COUNT(DISTINCT a.item_id) FROM {table} a JOIN items i ON i.id = a.item_id "
                "WHERE i.task_id = ? AND a.annotator_id = ?",
                (task_id, annotator_id),
            ).fetchone()[0]
            total = con.execute("SELECT COUNT(*) FROM items WHERE task_id = ?", (task_id,))
            return int(done), int(total.fetchone()[0])

    def _kind(self, task_id: int) -> TaskKind:
        with self.connect() as con:
            row = con.execute("SELECT kind FROM tasks WHERE id = ?", (task_id,)).fetchone()
        if row is None:
            raise KeyError(task_id)
        return row["kind"]  # type: ignore[no-any-return,unused-ignore]

    def next_item(self, task_id: int, annotator_id: int) -> Item | None:
        """The first item this annotator has not answered (None when done), its order recorded.

        The order (which system is shown first) is drawn at random the first time an annotator
        sees an item and stored, so a reload or a resume shows the same order.
        """
        table = "answers" if self._kind(task_id) == "pairwise" else "ratings"
        with self.transaction() as con:
            row = con.execute(
                f"SELECT * FROM items i WHERE i.task_id = ? AND NOT EXISTS (SELECT 1 FROM {table} "
                "a WHERE a.item_id = i.id AND a.annotator_id = ?) ORDER BY i.position LIMIT 1",
                (task_id, annotator_id),
            ).fetchone()
            if row is None:
                return None
            con.execute(
                "INSERT OR IGNORE INTO shown (annotator_id, item_id, swapped, shown_at) "
                "VALUES (?, ?, ?, ?)",
                (annotator_id, row["id"], secrets.randbelow(2), time.time()),
            )
            swapped = con.execute(
                "SELECT swapped FROM shown WHERE annotator_id = ? AND item_id = ?",
                (annotator_id, row["id"]),
            ).fetchone()["swapped"]
        payload = json.loads(row["payload"])
        return Item(row["id"], task_id, row["position"], row["key"], payload, bool(swapped))

    def submit_pairwise(self, annotator_id: int, item_id: int, answers: Mapping[str, str]) -> int:
        """Record one item's 7 answers (``"A"``/``"B"``/``"tie"`` as shown); returns rows added.

        All dimensions are required and written in one transaction; a repeated submit adds
        nothing (the first answer stands).
        """
        missing = [d for d in PAIRWISE_DIMENSIONS if answers.get(d) not in ("A", "B", "tie")]
        if missing:
            raise UserError(f"answer every dimension with A, B or tie (missing: {missing[0]})")
        with self.transaction() as con:
            shown = con.execute(
                "SELECT s.swapped, t.kind FROM shown s JOIN items i ON i.id = s.item_id "
                "JOIN tasks t ON t.id = i.task_id WHERE s.annotator_id = ? AND s.item_id = ?",
                (annotator_id, item_id),
            ).fetchone()
            if shown is None or shown["kind"] != "pairwise":
                raise UserError("this item was not shown to you; reload the page")
            swapped = bool(shown["swapped"])
            added = 0
            now = time.time()
            for dim in PAIRWISE_DIMENSIONS:
                answer = answers[dim]
                winner = "tie" if answer == "tie" else ("a" if (answer == "A") != swapped else "b")
                cur = con.execute(
                    "INSERT OR IGNORE INTO answers (annotator_id, item_id, dimension, ord, answer,"
                    " winner, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (annotator_id, item_id, dim, "BA" if swapped else "AB", answer, winner, now),
                )
                added += cur.rowcount
        return added

    def submit_ratings(self, annotator_id: int, item_id: int, ratings: Mapping[str, int]) -> int:
        """Record one dialogue's 1-5 ratings on every dataset dimension; returns rows added."""
        missing = [d for d in DATASET_DIMENSIONS if ratings.get(d) not in RATING_SCALE]
        if missing:
            raise UserError(f"rate every dimension from 1 to 5 (missing: {missing[0]})")
        with self.transaction() as con:
            shown = con.execute(
                "SELECT t.kind FROM shown s JOIN items i ON i.id = s.item_id JOIN tasks t ON "
                "t.id = i.task_id WHERE s.annotator_id = ? AND s.item_id = ?",
                (annotator_id, item_id),
            ).fetchone()
            if shown is None or shown["kind"] != "dataset":
                raise UserError("this dialogue was not shown to you; reload the page")
            now = time.time()
            added = 0
            for dim in DATASET_DIMENSIONS:
                cur = con.execute(
                    "INSERT OR IGNORE INTO ratings (annotator_id, item_id, dimension, rating, "
                    "created_at) VALUES (?, ?, ?, ?, ?)",
                    (annotator_id, item_id, dim, int(ratings[dim]), now),
                )
                added += cur.rowcount
        return added

    # -- reading results ---------------------------------------------------------------------
    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Run a read query and return plain dicts."""
        with self.connect() as con:
            return [dict(r) for r in con.execute(sql, params).fetchall()]

    def save_chat(self, annotator_id: int, chat_id: int | None, dialogue_json: str) -> int:
        """Insert or update one chat transcript (a dialogue as JSON); returns its id."""
        with self.transaction() as con:
            if chat_id is not None:
                cur = con.execute(
                    "UPDATE chats SET dialogue = ?, updated_at = ? WHERE id = ? AND "
                    "annotator_id = ?",
                    (dialogue_json, time.time(), chat_id, annotator_id),
                )
                if cur.rowcount:
                    return chat_id
            cur = con.execute(
                "INSERT INTO chats (annotator_id, dialogue, updated_at) VALUES (?, ?, ?)",
                (annotator_id, dialogue_json, time.time()),
            )
            return int(cur.lastrowid or 0)
