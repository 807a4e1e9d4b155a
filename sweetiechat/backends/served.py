"""Choosing with a model served by vLLM over its OpenAI-compatible API.

Two modes, neither of which trusts free text:

- ``"choice"``: decoding is constrained to the options
  (``extra_body={"structured_outputs": {"choice": options}}``); an answer that is not exactly
  an option (a server that ignored the constraint) is asked once more, then the default is
  taken with ``fallback=True``.
- ``"logprobs"``: one token is generated with ``top_logprobs``; each alternative token that is
  an option's first token adds its probability to that option (see :func:`logprob_choice` for
  the rule), and the option with the most probability wins. When the options' first tokens
  carry less than ``min_mass`` of the probability, the model is not answering with a label
  (a wrong model name, a base model without the adapter): the default is taken with
  ``fallback=True`` and the reason.

>>> logprob_choice({"Yes": -0.1, "No": -2.5}, ["Yes", "No"])[0]["Yes"] > 0.9
True
>>> logprob_choice({"The": -0.2, "I": -2.0, "A": -2.5}, ["Information", "Affirmation"])[0]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

from langchain_core.language_models import BaseChatModel

from sweetiechat.backends.base import ChatBackend, Completion, Message, as_backend
from sweetiechat.backends.choice import Choice, check_options

__all__ = ["ServedChooser", "first_token_label", "label_first_tokens", "logprob_choice"]

#: The default share of the first token's probability that must fall on the options.
MIN_MASS = 0.5
_MARKERS = ("\u2581", "\u0120")  # SentencePiece and byte-level BPE word-start markers


class Tokenizer(Protocol):
    """What is needed of a tokenizer (a Hugging Face one fits)."""

    def encode(self, text: str, add_special_tokens: bool = ...) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...


def _piece(token: str) -> str:
    for marker in _MARKERS:
        token = token.replace(marker, " ")
    return token.strip()


def label_first_tokens(options: Sequence[str], tokenizer: Tokenizer) -> dict[str, str]:
    """Each option's first token in ``tokenizer``, as the server reports tokens (decoded).

    Raises:
        ValueError: two options start with the same token, so the first token cannot tell
            them apart (use ``mode="choice"``).
    """
    out = {o: tokenizer.decode(tokenizer.encode(o, add_special_tokens=False)[:1]) for o in options}
    _check_distinct(out)
    return out


def _check_distinct(first_tokens: Mapping[str, str]) -> None:
    seen: dict[str, str] = {}
    for option, token in first_tokens.items():
        key = _piece(token)
        if key in seen:
            raise ValueError(
                f"options {seen[key]!r} and {option!r} both start with the token {token!r}: "
                "the first token cannot tell them apart; use mode='choice'"
            )
        seen[key] = option


def first_token_label(token: str, options: Sequence[str]) -> str | None:
    """The option a generated first token stands for, when no tokenizer is known.

    The rule: the token, without surrounding spaces or word-start markers, must be a prefix
    of exactly one option (case ignored) and at least 3 characters long, or the whole first
    word of that option when the word is shorter. So ``"Rest"`` stands for "Restatement or
    Paraphrasing" and ``"Question"`` for "Question", but the ordinary words ``"I"``, ``"In"``
    and ``"A"`` stand for nothing, though "Information" and "Affirmation" start with them.

    >>> first_token_label(" Rest", ["Question", "Restatement or Paraphrasing"])
    'Restatement or Paraphrasing'
    >>> first_token_label("In", ["Information", "Others"]) is None
    True
    >>> first_token_label("No", ["Yes", "No"])
    'No'
    """
    piece = _piece(token).lower()
    if not piece:
        return None
    found = [o for o in options if o.lower().startswith(piece)]
    if len(found) != 1:
        return None
    first_word = found[0].split()[0]
    return found[0] if len(piece) >= min(3, len(first_word)) else None


def logprob_choice(
    top: Mapping[str, float],
    options: Sequence[str],
    *,
    first_tokens: Mapping[str, str] | None = None,
    min_mass: float = MIN_MASS,
) -> tuple[dict[str, float] | None, str]:
    """Probabilities over ``options`` from the first generated token's ``top_logprobs``.

    Args:
        top: token -> log-probability, the alternatives for the first generated token.
        options: the labels.
        first_tokens: each option's own first token in the served tokenizer
            (:func:`label_first_tokens`); a token then counts for an option only when it is
            exactly that token. Without it :func:`first_token_label` decides.
        min_mass: the least total probability the options' tokens must carry.

    Returns:
        ``(probabilities, "")`` with probabilities over all options summing to 1, or
        ``(None, reason)`` when the options' tokens carry less than ``min_mass``.
    """
    by_token = {_piece(t): o for o, t in (first_tokens or {}).items()}
    mass = dict.fromkeys(options, 0.0)
    for token, logprob in top.items():
        label = by_token.get(_piece(token)) if first_tokens else first_token_label(token, options)
        if label is not None:
            mass[label] += math.exp(logprob)
    total = sum(mass.values())
    if total < min_mass or total <= 0:
        best = max(top, key=top.__getitem__, default="")
        return None, (
            f"the options' first tokens carry {total:.2f} of the probability, under min_mass "
            f"{min_mass:g} (top token {best!r})"
        )
    return {o: m / total for o, m in mass.items()}, ""


class ServedChooser:
    """A :class:`~sweetiechat.backends.choice.ChoiceBackend` for a vLLM-served model.

    It is a :class:`~sweetiechat.backends.ChatBackend` too (``acomplete`` is passed on).

    Args:
        backend: the endpoint, e.g. ``ChatOpenAI(base_url=URL, model="counselor",
            api_key="EMPTY", max_retries=0)``, or a backend wrapping it (put
            :class:`~sweetiechat.backends.Metered` here to count every HTTP call).
        mode: ``"choice"`` (constrained decoding) or ``"logprobs"`` (first-token
            probabilities).
        top_logprobs: alternatives asked for in ``"logprobs"`` mode.
        min_mass: in ``"logprobs"`` mode, the least probability the options' first tokens
            must carry, else fallback (default 0.5).
        first_tokens: each option's first token in the served tokenizer, when known.
        tokenizer: the served model's tokenizer, to work out ``first_tokens`` for any options.
        attempts: tries in ``"choice"`` mode before the fallback.
        model_options: added to every request (e.g. ``{"temperature": 0}`` is the default).
    """

    def __init__(
        self,
        backend: ChatBackend | BaseChatModel,
        *,
        mode: Literal["choice", "logprobs"] = "choice",
        top_logprobs: int = 20,
        min_mass: float = MIN_MASS,
        first_tokens: Mapping[str, str] | None = None,
        tokenizer: Tokenizer | None = None,
        attempts: int = 2,
        model_options: dict[str, Any] | None = None,
    ) -> None:
        if mode not in ("choice", "logprobs"):
            raise ValueError(f"mode must be 'choice' or 'logprobs', not {mode!r}")
        if not 0 <= min_mass <= 1:
            raise ValueError(f"min_mass must be within 0 and 1, not {min_mass}")
        if first_tokens is not None:
            _check_distinct(first_tokens)
        self.backend = as_backend(backend)
        self.name = self.backend.name
        self.mode = mode
        self.top_logprobs = top_logprobs
        self.min_mass = min_mass
        self.first_tokens = dict(first_tokens) if first_tokens is not None else None
        self.tokenizer = tokenizer
        self.attempts = attempts
        self.model_options = {"temperature": 0, **(model_options or {})}

    async def acomplete(self, messages: Sequence[Message], **options: Any) -> Completion:
        """The endpoint's plain completion."""
        return await self.backend.acomplete(messages, **options)

    def request_options(self, options: Sequence[str]) -> dict[str, Any]:
        """The request options for choosing among ``options`` in this mode."""
        if self.mode == "choice":
            body = {**self.model_options.get("extra_body", {})}
            body["structured_outputs"] = {"choice": list(options)}
            longest = max(len(o) for o in options)
            return {**self.model_options, "max_tokens": max(16, longest), "extra_body": body}
        return {
            **self.model_options,
            "max_tokens": 1,
            "logprobs": True,
            "top_logprobs": self.top_logprobs,
        }

    def _first_tokens(self, options: Sequence[str]) -> dict[str, str] | None:
        if self.first_tokens is not None:
            missing = [o for o in options if o not in self.first_tokens]
            if missing:
                raise ValueError(f"first_tokens has no token for the option(s) {missing}")
            return {o: self.first_tokens[o] for o in options}
        if self.tokenizer is not None:
            return label_first_tokens(options, self.tokenizer)
        return None

    async def achoose(
        self,
        messages: Sequence[Message],
        options: Sequence[str],
        *,
        default: str | None = None,
        **_: Any,
    ) -> Choice:
        """Choose one of ``options`` (extra keyword arguments are ignored)."""
        labels, fallback = check_options(options, default)
        request = self.request_options(labels)
        if self.mode == "logprobs":
            first_tokens = self._first_tokens(labels)
            problem = ""
            for _attempt in range(max(1, self.attempts)):
                completion = await self.backend.acomplete(messages, **request)
                if not completion.top_logprobs:
                    problem = "the server sent no logprobs"
                    continue
                probs, problem = logprob_choice(
                    completion.top_logprobs[0],
                    labels,
                    first_tokens=first_tokens,
                    min_mass=self.min_mass,
                )
                if probs is not None:
                    return Choice(max(probs, key=probs.__getitem__), probs)
                break  # a deterministic answer; asking again gives the same
            return Choice(fallback, fallback=True, reason=problem)
        problems = []
        for _attempt in range(max(1, self.attempts)):
            text = (await self.backend.acomplete(messages, **request)).text.strip()
            if text in labels:
                return Choice(text)
            problems.append(f"not an option: {text[:40]!r}")
        return Choice(fallback, fallback=True, reason="; ".join(problems))
