"""Choosing among labels, one capability for every backend (after Concordia's ``sample_choice``).

``await achoose(backend, messages, options)`` returns a :class:`Choice` whose ``label`` is
always one of ``options``. How it is chosen depends on what ``backend`` can do:

- an object with its own ``achoose`` method (:class:`ChoiceBackend`): it decides. The
  implementations shipped are :class:`~sweetiechat.backends.served.ServedChooser` (vLLM:
  constrained decoding or first-token ``top_logprobs``) and
  :class:`~sweetiechat.backends.scoring.LikelihoodChooser` (a local causal LM scoring each
  option's log-likelihood). The wrappers :class:`~sweetiechat.backends.Retrying`,
  :class:`~sweetiechat.backends.RateLimited` and :class:`~sweetiechat.backends.Metered` pass
  it through.
- any other :class:`~sweetiechat.backends.ChatBackend` or LangChain chat model: it is asked,
  the answer is parsed tolerantly against the options (:func:`parse_choice`), an unusable
  answer is asked once more with a reminder of the options, and then ``default`` is taken
  with ``fallback=True`` (:func:`ask_choice`).

>>> from langchain_core.language_models.fake_chat_models import FakeListChatModel
>>> model = FakeListChatModel(responses=["I'd say: **Yes.**"])
>>> choose(model, [("user", "Is water wet?")], ["Yes", "No"])
Choice(label='Yes', probabilities=None, fallback=False, reason='')
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from langchain_core.language_models import BaseChatModel

from sweetiechat._async import run_sync
from sweetiechat.backends.base import ChatBackend, Message, as_backend

__all__ = [
    "Choice",
    "ChoiceBackend",
    "achoose",
    "ask_choice",
    "check_options",
    "choose",
    "native_chooser",
    "parse_choice",
]


@dataclass(frozen=True)
class Choice:
    """The outcome of choosing among labels."""

    label: str
    """The chosen label; always one of the options."""
    probabilities: dict[str, float] | None = None
    """P(option | messages) over all options, summing to 1, when the backend can tell."""
    fallback: bool = False
    """True when no usable answer came back and ``label`` is the default."""
    reason: str = ""
    """Why the fallback was taken (empty otherwise)."""


@runtime_checkable
class ChoiceBackend(Protocol):
    """A backend that chooses natively (scores or constrains instead of parsing text)."""

    name: str

    async def achoose(
        self, messages: Sequence[Message], options: Sequence[str], *, default: str | None = None
    ) -> Choice:
        """Choose one of ``options`` as the answer to ``messages``."""
        ...


def check_options(options: Sequence[str], default: str | None = None) -> tuple[list[str], str]:
    """Validate ``options`` and ``default``; returns them as a list and the default to use.

    Raises:
        ValueError: no options, a non-string or empty option, duplicates, or a ``default``
            that is not among the options.
    """
    labels = list(options)
    if not labels:
        raise ValueError("choose needs at least one option")
    if any(not isinstance(o, str) or not o.strip() for o in labels):
        raise ValueError(f"options must be non-empty strings, got {labels!r}")
    if len(set(labels)) != len(labels):
        raise ValueError(f"options must be distinct, got {labels!r}")
    if default is None:
        return labels, labels[0]
    if default not in labels:
        raise ValueError(f"default {default!r} is not one of the options {labels!r}")
    return labels, default


def _norm(text: str) -> str:
    """Lower case, ``-``/``_`` as spaces, no punctuation, single spaces."""
    text = re.sub(r"[-_/]", " ", text.lower())
    text = re.sub(r"[^\w\s]", "", text)
    return " ".join(text.split())


def parse_choice(text: str, options: Sequence[str]) -> str | None:
    """The option ``text`` names, or None when it names none or several.

    Case, punctuation, markdown, quotes and ``-``/``_`` are ignored. Accepted, in order:
    the whole answer is an option; its first line, or the part of it before ``:``/`` - ``,
    is an option; exactly one option occurs as whole words in the first line (an option
    inside a longer option that also occurs does not count).

    >>> parse_choice("**Providing Suggestions.**", ["Question", "Providing Suggestions"])
    'Providing Suggestions'
    >>> parse_choice("Question: why not ask?", ["Question", "Others"])
    'Question'
    >>> parse_choice("either Question or Others", ["Question", "Others"]) is None
    True
    """
    by_norm = {_norm(o): o for o in options}
    stripped = text.strip()
    if not stripped:
        return None
    first = stripped.splitlines()[0]
    head = re.split(r":|\s[-–—]\s", first, maxsplit=1)[0]
    for candidate in (stripped, first, head):
        if (found := by_norm.get(_norm(candidate))) is not None:
            return found
    line = f" {_norm(first)} "
    present = [o for key, o in by_norm.items() if key and f" {key} " in line]
    present = [o for o in present if not any(o != p and _norm(o) in _norm(p) for p in present)]
    return present[0] if len(present) == 1 else None


def _reminder(options: Sequence[str]) -> str:
    return "Answer with exactly one of these, and nothing else: " + "; ".join(options) + "."


async def ask_choice(
    backend: ChatBackend | BaseChatModel,
    messages: Sequence[Message],
    options: Sequence[str],
    *,
    default: str | None = None,
    attempts: int = 2,
    parse: Callable[[str], str | None] | None = None,
    **model_options: Any,
) -> Choice:
    """Choose by asking a plain chat model and parsing its answer.

    Args:
        backend: any backend or LangChain chat model.
        messages: the question; it should say what to answer (the options are not added).
        options: the labels.
        default: taken, with ``fallback=True``, when no answer names an option; the first
            option when None.
        attempts: tries in all. After an unusable answer the model is shown its answer and
            asked to answer with exactly one option.
        parse: maps an answer to an option or None; tried before :func:`parse_choice`
            (e.g. to accept a label's known aliases).
        **model_options: passed to every model call (``max_tokens``, ``temperature`` ...).
    """
    labels, fallback = check_options(options, default)
    chat = as_backend(backend)
    asked = list(messages)
    answers: list[str] = []
    for _ in range(max(1, attempts)):
        text = (await chat.acomplete(asked, **model_options)).text
        label = parse(text) if parse is not None else None
        if label not in labels:
            label = parse_choice(text, labels)
        if label is not None:
            return Choice(label)
        answers.append(text)
        asked = [*messages, ("assistant", text), ("user", _reminder(labels))]
    reason = f"no option in the answers {answers!r}"
    return Choice(fallback, fallback=True, reason=reason[:300])


def _native(backend: object) -> Any:
    if isinstance(backend, BaseChatModel):
        return None
    method = getattr(backend, "achoose", None)
    return method if callable(method) else None


def _accepted(method: Callable[..., Any], kw: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments ``method`` takes: all with ``**kw``, else those it names (so a
    minimal :class:`ChoiceBackend` is not sent the asking path's ``parse`` or model options)."""
    if not kw:
        return kw
    try:
        params = inspect.signature(method).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return kw
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return kw
    return {k: v for k, v in kw.items() if k in params}


def native_chooser(backend: object) -> Any:
    """The object that chooses natively under ``backend``'s wrappers, or None.

    A wrapper marks itself with ``passes_choice_through = True`` and keeps the wrapped
    backend in ``.backend``; it chooses natively only if what it wraps does.
    """
    while getattr(type(backend), "passes_choice_through", False):
        backend = getattr(backend, "backend", None)
    return backend if _native(backend) is not None else None


async def achoose(
    backend: ChoiceBackend | ChatBackend | BaseChatModel,
    messages: Sequence[Message],
    options: Sequence[str],
    *,
    default: str | None = None,
    **kw: Any,
) -> Choice:
    """Choose one of ``options`` as the answer to ``messages`` with any backend.

    Args:
        backend: a :class:`ChoiceBackend` (chooses natively), a
            :class:`~sweetiechat.backends.ChatBackend` or a LangChain chat model (asked and
            parsed, see :func:`ask_choice`).
        messages: the prompt, as ``(role, content)`` pairs.
        options: the labels, distinct non-empty strings.
        default: the label of a fallback; the first option when None.
        **kw: passed on: to :func:`ask_choice` for a plain chat model (``attempts``,
            ``parse``, model options), to the native ``achoose`` otherwise (only those it
            accepts).

    Returns:
        A :class:`Choice` whose ``label`` is one of ``options``. A native chooser that
        returns anything else is treated as unusable: ``default`` with ``fallback=True``.
    """
    labels, fallback = check_options(options, default)
    native = _native(backend)
    if native is None:
        return await ask_choice(backend, messages, labels, default=fallback, **kw)  # type: ignore[arg-type]
    choice = await native(messages, labels, default=fallback, **_accepted(native, kw))
    if not isinstance(choice, Choice) or choice.label not in labels:
        got = getattr(choice, "label", choice)
        return Choice(fallback, fallback=True, reason=f"not one of the options: {got!r}"[:300])
    return choice


def choose(
    backend: ChoiceBackend | ChatBackend | BaseChatModel,
    messages: Sequence[Message],
    options: Sequence[str],
    *,
    default: str | None = None,
    **kw: Any,
) -> Choice:
    """Synchronous :func:`achoose`."""
    return run_sync(achoose(backend, messages, options, default=default, **kw))
