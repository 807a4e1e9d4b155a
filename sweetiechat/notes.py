"""Per-dialogue notes: what a wrapped agent did while one dialogue ran, kept in its ``meta``.

A wrapper around a role (a regenerating supporter, a checked seeker) calls :func:`note`
during a dialogue; :class:`~sweetiechat.conversation.Conversation` collects the notes and
stores each key's list in the dialogue's ``meta`` (``meta.enforcement``, for example). Outside
a dialogue, :func:`note` does nothing.

>>> with collecting() as notes:
...     note("enforcement", {"turn": 1, "attempts": 2})
>>> notes
{'enforcement': [{'turn': 1, 'attempts': 2}]}
>>> note("enforcement", {"turn": 1})  # not collecting: ignored
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = ["DIALOGUE_NOTES", "collecting", "note"]

DIALOGUE_NOTES: ContextVar[dict[str, list[dict[str, Any]]] | None] = ContextVar(
    "sweetiechat_dialogue_notes", default=None
)


def note(key: str, event: dict[str, Any]) -> None:
    """Add ``event`` to the running dialogue's notes under ``key`` (a ``meta`` field name)."""
    notes = DIALOGUE_NOTES.get()
    if notes is not None:
        notes.setdefault(key, []).append(event)


@contextmanager
def collecting() -> Iterator[dict[str, list[dict[str, Any]]]]:
    """Collect the notes made inside the block into the dict it yields."""
    notes: dict[str, list[dict[str, Any]]] = {}
    token = DIALOGUE_NOTES.set(notes)
    try:
        yield notes
    finally:
        DIALOGUE_NOTES.reset(token)
