"""The backend protocol and the adapter to LangChain chat models.

>>> from langchain_core.language_models.fake_chat_models import FakeListChatModel
>>> import asyncio
>>> backend = as_backend(FakeListChatModel(responses=["Hello there."]))
>>> asyncio.run(backend.acomplete([("user", "Hi")])).text
'Hello there.'
"""

from __future__ import annotations

import contextvars
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage

from sweetiechat.types import Usage

__all__ = [
    "DIALOGUE_USAGE",
    "ChatBackend",
    "Completion",
    "EmptyCompletionError",
    "LangChainBackend",
    "Message",
    "as_backend",
    "record_usage",
    "top_logprobs",
]

#: A chat message as ``(role, content)``, role one of ``system``, ``user``, ``assistant``.
Message = tuple[str, str]


#: Usage of the dialogue being generated in the current task (set by the conversation and the
#: generator); :class:`~sweetiechat.backends.Metered` and :func:`as_backend`'s wrapper add to it.
DIALOGUE_USAGE: contextvars.ContextVar[Usage | None] = contextvars.ContextVar(
    "sweetiechat_dialogue_usage", default=None
)


class EmptyCompletionError(RuntimeError):
    """The model answered with no text; :class:`~sweetiechat.backends.Retrying` retries it."""


@dataclass(frozen=True)
class Completion:
    """A model's answer with its accounting."""

    text: str
    """The generated text."""
    model: str = ""
    """The model that produced it."""
    prompt_tokens: int = 0
    """Input tokens, as the provider reports them (0 when unknown)."""
    completion_tokens: int = 0
    """Output tokens, as the provider reports them (0 when unknown)."""
    top_logprobs: list[dict[str, float]] = field(default_factory=list)
    """Per generated token, the top alternatives and their log-probabilities (when asked)."""


@runtime_checkable
class ChatBackend(Protocol):
    """Anything that turns chat messages into a :class:`Completion`."""

    name: str
    """A label for logs and metadata (the model name; never a key)."""

    async def acomplete(self, messages: Sequence[Message], **options: Any) -> Completion:
        """Answer ``messages``. ``options`` are passed to the model call (``max_tokens``,
        ``temperature``, ``logprobs``, ``extra_body`` ...)."""
        ...


def record_usage(completion: Completion, cost: float = 0.0) -> None:
    """Add one call to the usage of the dialogue being generated, if one is."""
    usage = DIALOGUE_USAGE.get()
    if usage is not None:
        usage.calls += 1
        usage.prompt_tokens += completion.prompt_tokens
        usage.completion_tokens += completion.completion_tokens
        usage.cost_usd += cost


def _model_name(model: BaseChatModel) -> str:
    for attr in ("model_name", "model", "model_id"):
        value = getattr(model, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(model).__name__


def _text(content: str | list[Any]) -> str:
    """A message's text; content blocks (some providers) are joined."""
    if isinstance(content, str):
        return content
    return "".join(
        str(block.get("text", "")) if isinstance(block, dict) else str(block) for block in content
    )


def top_logprobs(logprobs: dict[str, Any] | None) -> list[dict[str, float]]:
    """Per generated token, its alternatives and their log-probabilities, from a chat
    completion's ``logprobs`` object (the token alone when no alternatives were asked)."""
    return [
        {alt["token"]: float(alt["logprob"]) for alt in tok.get("top_logprobs") or []}
        or {tok["token"]: float(tok["logprob"])}
        for tok in (logprobs or {}).get("content") or []
    ]


class LangChainBackend:
    """Adapts any LangChain ``BaseChatModel`` (``ChatOpenAI``, ``ChatOllama`` ...).

    Args:
        model: the chat model. For ``ChatOpenAI`` set ``max_retries=0`` and let
            :class:`~sweetiechat.backends.Retrying` retry, so retries are counted.
        name: label for metadata; defaults to the model's name.
        record_usage: count each call into the usage of the dialogue being generated
            (:func:`as_backend` sets it; leave it off under a
            :class:`~sweetiechat.backends.Metered`, which counts already).
    """

    def __init__(
        self, model: BaseChatModel, *, name: str | None = None, record_usage: bool = False
    ) -> None:
        self.model = model
        self.name = name or _model_name(model)
        self.record_usage = record_usage

    async def acomplete(self, messages: Sequence[Message], **options: Any) -> Completion:
        reply = await self.model.ainvoke(list(messages), **options)
        if not isinstance(reply, AIMessage):  # pragma: no cover - LangChain contract
            raise TypeError(f"{self.name} returned {type(reply).__name__}, not AIMessage")
        text = _text(reply.content)
        if not text.strip():
            raise EmptyCompletionError(f"{self.name} returned empty content")
        usage: dict[str, Any] = dict(reply.usage_metadata or {})
        completion = Completion(
            text=text,
            model=str(reply.response_metadata.get("model_name") or self.name),
            prompt_tokens=int(usage.get("input_tokens", 0)),
            completion_tokens=int(usage.get("output_tokens", 0)),
            top_logprobs=top_logprobs(reply.response_metadata.get("logprobs")),
        )
        if self.record_usage:
            record_usage(completion)
        return completion


def as_backend(model: ChatBackend | BaseChatModel) -> ChatBackend:
    """A backend for ``model``: a LangChain chat model is wrapped, a backend returned as is.

    A wrapped model's calls count into the usage of the dialogue being generated (calls and
    tokens; no cost, since no price is known). For cost, retries and rate limits build
    ``Metered(RateLimited(Retrying(LangChainBackend(model))), ledger)`` yourself.

    Raises:
        TypeError: ``model`` is neither (a model name string, say), with what to pass.
    """
    if isinstance(model, BaseChatModel):
        return LangChainBackend(model, record_usage=True)
    if isinstance(model, ChatBackend) and not isinstance(model, type):
        return model
    raise TypeError(
        f"expected a LangChain chat model or a sweetiechat ChatBackend, got "
        f'{type(model).__name__} {model!r:.60}: pass e.g. ChatOpenAI(model="gpt-4o-mini") '
        f"(from langchain_openai) or a ChatBackend (an object with `name` and "
        f"`async acomplete(messages, **options)`)"
    )
