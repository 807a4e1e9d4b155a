"""Sync at the edge: run a coroutine from a script, with a clear message in a notebook."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a new event loop.

    Raises:
        RuntimeError: an event loop is already running (Jupyter): ``await`` the async method.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    coro.close()
    raise RuntimeError(
        "an event loop is already running (a notebook?): use the async method with `await`, "
        "e.g. `dialogue = await conversation.arun()`"
    )
