"""Sync at the edge: run a coroutine from a script, with a clear message in a notebook.

Every synchronous twin (``select``, ``respond``, ``run``, ``choose`` ...) runs its coroutine
on one event loop that lives for the whole process, in a daemon thread. Clients that bind
themselves to the loop they were first used on (langchain-openai's async HTTP client) keep
working on the second call, which they would not with a fresh ``asyncio.run`` per call.
Context variables of the caller are visible to the coroutine. At exit the loop's
remaining tasks (a local model's batching engine) are cancelled and the loop is closed, so a
script ends quietly instead of with "Task was destroyed but it is pending!".
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def _background_loop() -> asyncio.AbstractEventLoop:
    """The process's loop for synchronous calls, started on first use."""
    global _loop, _thread
    with _lock:
        if _loop is None or _loop.is_closed() or _thread is None or not _thread.is_alive():
            _loop = asyncio.new_event_loop()
            _thread = threading.Thread(
                target=_loop.run_forever, name="sweetiechat-sync-loop", daemon=True
            )
            _thread.start()
        return _loop


def _shutdown(timeout: float = 5.0) -> None:
    """Cancel the background loop's tasks, stop it and close it (run at interpreter exit)."""
    with _lock:
        loop, thread = _loop, _thread
    if loop is None or loop.is_closed() or thread is None or not thread.is_alive():
        return

    async def cancel_all() -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    try:
        asyncio.run_coroutine_threadsafe(cancel_all(), loop).result(timeout)
    except Exception:  # best effort at exit: a task that will not stop must not hang it
        return
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout)
    if not thread.is_alive():
        loop.close()


atexit.register(_shutdown)


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on the shared background event loop and return its result.

    Raises:
        RuntimeError: an event loop is already running (Jupyter): ``await`` the async method.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        coro.close()
        raise RuntimeError(
            "an event loop is already running (a notebook?): use the async method with "
            "`await`, e.g. `dialogue = await conversation.arun()`"
        )
    finished = threading.Event()

    async def tracked() -> T:
        try:
            return await coro
        finally:
            finished.set()

    future = asyncio.run_coroutine_threadsafe(tracked(), _background_loop())
    try:
        return future.result()
    except BaseException:
        # Ctrl-C in the caller stops the work too; its cleanup gets a moment to finish.
        future.cancel()
        finished.wait(timeout=10)
        raise
