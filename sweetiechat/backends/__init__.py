"""How a role gets text from a model.

One small protocol, :class:`ChatBackend` (``acomplete(messages, **options) -> Completion``);
an adapter for any LangChain chat model (:class:`LangChainBackend`: OpenAI, vLLM, Ollama ...);
the embedded local model (:mod:`sweetiechat.backends.local`); and wrappers that compose:
:class:`Retrying`, :class:`RateLimited`, :class:`Metered`.

Choosing among labels is one capability for all of them: :func:`achoose` / :func:`choose`
return a :class:`Choice`. A plain chat model is asked and its answer parsed; a
:class:`ChoiceBackend` chooses natively: :class:`ServedChooser` (vLLM constrained decoding or
``top_logprobs``) and :class:`LikelihoodChooser` (a local LM scoring each option).
"""

from sweetiechat.backends.base import (
    ChatBackend,
    Completion,
    EmptyCompletionError,
    LangChainBackend,
    as_backend,
)
from sweetiechat.backends.choice import Choice, ChoiceBackend, achoose, choose, parse_choice
from sweetiechat.backends.scoring import LikelihoodChooser
from sweetiechat.backends.served import ServedChooser
from sweetiechat.backends.wrappers import Metered, RateLimited, Retrying, UsageLedger

__all__ = [
    "ChatBackend",
    "Choice",
    "ChoiceBackend",
    "Completion",
    "EmptyCompletionError",
    "LangChainBackend",
    "LikelihoodChooser",
    "Metered",
    "RateLimited",
    "Retrying",
    "ServedChooser",
    "UsageLedger",
    "achoose",
    "as_backend",
    "choose",
    "parse_choice",
]
