"""How a role gets text from a model.

One small protocol, :class:`ChatBackend` (``acomplete(messages, **options) -> Completion``);
an adapter for any LangChain chat model (:class:`LangChainBackend`: OpenAI, vLLM, Ollama ...);
the embedded local model (:mod:`sweetiechat.backends.local`); and wrappers that compose:
:class:`Retrying`, :class:`RateLimited`, :class:`Metered`.
"""

from sweetiechat.backends.base import (
    ChatBackend,
    Completion,
    EmptyCompletionError,
    LangChainBackend,
    as_backend,
)
from sweetiechat.backends.wrappers import Metered, RateLimited, Retrying, UsageLedger

__all__ = [
    "ChatBackend",
    "Completion",
    "EmptyCompletionError",
    "LangChainBackend",
    "Metered",
    "RateLimited",
    "Retrying",
    "UsageLedger",
    "as_backend",
]
