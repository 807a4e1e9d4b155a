"""The abstract :class:`Agent`: a prompt, a backend, and the dialogue as its only memory."""

from __future__ import annotations

from abc import ABC
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from langchain_core.language_models import BaseChatModel

from sweetiechat.backends.base import ChatBackend, as_backend
from sweetiechat.prompts import PromptTemplate, load_prompt
from sweetiechat.taxonomy import Strategy
from sweetiechat.text import clean_utterance
from sweetiechat.types import Turn

__all__ = ["Agent", "AgentError", "render_history", "strategy_list"]

ROLE_LABEL = {"seeker": "Seeker", "supporter": "Supporter"}


class AgentError(RuntimeError):
    """An agent could not produce a usable answer after its retries."""


def render_history(turns: Sequence[Turn], window: int) -> str:
    """The last ``window`` utterances as ``Seeker: ...`` / ``Supporter: ...`` lines."""
    recent = list(turns)[-window:] if window > 0 else list(turns)
    return "\n".join(f"{ROLE_LABEL[t.role]}: {t.text}" for t in recent)


def strategy_list() -> str:
    """The 8 strategies, one ``- Name: meaning`` line each."""
    return "\n".join(f"- {s.value}: {s.definition}" for s in Strategy)


class Agent(ABC):
    """A role in the role-play. Subclasses set :attr:`prompt_name` and add one method that
    reads a :class:`~sweetiechat.types.Dialogue` and returns text or a turn.

    Args:
        backend: a :class:`~sweetiechat.backends.ChatBackend` or any LangChain chat model.
        prompt: a template replacing the built-in one.
        prompts_dir: a folder whose ``<prompt_name>.txt`` replaces the built-in one.
        window: how many recent utterances the agent sees (the method's 6: docs/method.md).
        max_sentences: the longest utterance kept, in sentences (the method's 3).
        attempts: tries when the cleaned answer is empty or invalid.
        model_options: passed to every model call (``temperature``, ``max_tokens`` ...).
    """

    prompt_name: ClassVar[str]

    def __init__(
        self,
        backend: ChatBackend | BaseChatModel,
        *,
        prompt: PromptTemplate | None = None,
        prompts_dir: str | Path | None = None,
        window: int = 6,
        max_sentences: int = 3,
        attempts: int = 3,
        model_options: dict[str, Any] | None = None,
    ) -> None:
        self.backend = as_backend(backend)
        self.prompt = prompt or load_prompt(self.prompt_name, prompts_dir)
        self.window = window
        self.max_sentences = max_sentences
        self.attempts = attempts
        self.model_options = dict(model_options or {})

    @property
    def name(self) -> str:
        """The backend's model name, for metadata."""
        return self.backend.name

    async def _ask(self, values: dict[str, Any], *, max_sentences: int | None = None) -> str:
        """Render the prompt, call the model, clean the answer; retry empty answers."""
        messages = self.prompt.render(**values)
        limit = self.max_sentences if max_sentences is None else max_sentences
        for _ in range(self.attempts):
            completion = await self.backend.acomplete(messages, **self.model_options)
            text = clean_utterance(completion.text, max_sentences=limit)
            if text:
                return text
        raise AgentError(
            f"{type(self).__name__} ({self.name}) gave no usable text in {self.attempts} tries"
        )
