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
