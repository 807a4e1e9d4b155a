"""The synchronous twins' background event loop (``sweetiechat._async``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from sweetiechat._async import run_sync

# A script that leaves a task pending on the background loop, as a local model's batching
# engine does (it waits on its request queue for ever), and exits.
SCRIPT = textwrap.dedent(
    """
    import asyncio, atexit, sys
    import sweetiechat._async as sync_loop

    if sys.argv[1:] == ["no-shutdown"]:
        atexit.unregister(sync_loop._shutdown)
    KEEP = []

    async def start():
        inbox = asyncio.Queue()

        async def serve():
            while True:
                await inbox.get()

        KEEP.append(asyncio.get_running_loop().create_task(serve()))
        return "started"

    print(sync_loop.run_sync(start()))
    """
)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, *args], capture_output=True, text=True, timeout=60
    )


def test_a_script_with_a_pending_engine_task_exits_quietly() -> None:
    done = _run()
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "started"
    assert done.stderr == ""


def test_without_the_exit_hook_the_pending_task_is_reported() -> None:
    """The check above can fail: without the hook Python reports the destroyed task."""
    done = _run("no-shutdown")
    assert done.returncode == 0
    assert "Task was destroyed but it is pending" in done.stderr


def test_run_sync_returns_the_result_and_raises_the_error() -> None:
    async def ok() -> int:
        return 7

    async def bad() -> None:
        raise ValueError("boom")

    assert run_sync(ok()) == 7
    with pytest.raises(ValueError, match="boom"):
        run_sync(bad())
