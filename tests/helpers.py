"""Test helpers: a recording wrapper around a backend, and ready-made agents on fakes."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models.fake_chat_models import FakeListChatModel

from sweetiechat.backends import ChatBackend, Completion, LangChainBackend


class Recording:
    """Wraps a backend and keeps the messages of every call."""

    def __init__(self, backend: ChatBackend) -> None:
        self.backend = backend
        self.name = backend.name
        self.calls: list[list[tuple[str, str]]] = []
        self.options: list[dict[str, Any]] = []

    async def acomplete(self, messages, **options) -> Completion:
        self.calls.append(list(messages))
        self.options.append(options)
        return await self.backend.acomplete(messages, **options)


def fake(*responses: str) -> Recording:
    """A recording backend over langchain_core's FakeListChatModel (cycles its responses)."""
    return Recording(LangChainBackend(FakeListChatModel(responses=list(responses))))


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """Run the console script in-process: (exit status, stdout, stderr)."""
    import sys

    from sweetiechat.cli import main

    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["sweetiechat", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def one_line_error(code: int, err: str, expect: str) -> None:
    """A CLI failure: status 2, one ``error:`` line holding ``expect``, no traceback."""
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert expect in " ".join(err.split()), err
