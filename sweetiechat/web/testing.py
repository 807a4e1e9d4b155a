"""Helpers for testing and measuring the web app: a real uvicorn server on 127.0.0.1 in a
background thread, and small demo inputs for a pairwise and a dataset task.

>>> import tempfile, pathlib
>>> a, b = write_demo_pairs(pathlib.Path(tempfile.mkdtemp()), 2)
>>> a.read_text().count("\\n"), b.name
(2, 'b.jsonl')
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sweetiechat.io import write_dialogues
from sweetiechat.types import Dialogue, Turn

__all__ = ["free_port", "running_server", "write_demo_pairs"]

_SEEKER = (
    "I've been working late every night and I feel like I'm drowning.",
    "My sister stopped talking to me after an argument and I miss her.",
    "I failed my driving test for the third time and feel stupid.",
    "Since the move I don't know anyone here and evenings are so quiet.",
)
_A = (
    "That sounds exhausting. What part of the work weighs on you the most?",
    "Missing her after a falling-out is painful. Would you like to reach out to her?",
    "Failing three times is frustrating, but it doesn't make you stupid.",
    "Moving somewhere new can feel very lonely. Have you found anything you enjoy nearby?",
)
_B = (
    "You should take a holiday.",
    "Families argue sometimes.",
    "Maybe practise more.",
    "Try joining a club.",
)


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(app: Any, port: int | None = None) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 in a thread; yields its base URL."""
    import uvicorn

    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            access_log=False)  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the test server did not start on port {port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def write_demo_pairs(folder: Path, n: int, *, seeker_text: str | None = None) -> tuple[Path, Path]:
    """Two dialogue files with the same ``n`` contexts and different supporter replies
    (A empathic, B curt); ``seeker_text`` replaces every seeker message (e.g. an XSS probe)."""

    def dialogues(replies: tuple[str, ...]) -> list[Dialogue]:
        return [
            Dialogue(
                id=f"demo{i}",
                problem_type="Job crisis",
                turns=[
                    Turn(role="seeker", text=seeker_text or _SEEKER[i % len(_SEEKER)]),
                    Turn(role="supporter", text=replies[i % len(replies)]),
                ],
            )
            for i in range(n)
        ]

    folder.mkdir(parents=True, exist_ok=True)
    a, b = folder / "a.jsonl", folder / "b.jsonl"
    write_dialogues(a, dialogues(_A))
    write_dialogues(b, dialogues(_B))
    return a, b
