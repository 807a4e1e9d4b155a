"""Wrappers that add behaviour to any backend and compose:
``Metered(RateLimited(Retrying(backend)), ledger)``.

- :class:`Retrying`: tenacity, exponential backoff with jitter, honours ``Retry-After``;
  retries 429, 5xx, timeouts, connection errors, malformed and empty answers; never a 400.
- :class:`RateLimited`: requests per minute and tokens per minute (token buckets).
- :class:`Metered`: prompt/completion tokens and cost per model, into a :class:`UsageLedger`
  and into the usage of the dialogue being generated (a context variable).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from sweetiechat.backends.base import (
    DIALOGUE_USAGE,
    ChatBackend,
    Completion,
    EmptyCompletionError,
    Message,
)
from sweetiechat.backends.choice import Choice, ask_choice, native_chooser

__all__ = [
    "DIALOGUE_USAGE",
    "Metered",
    "ModelUsage",
    "RateLimited",
    "Retrying",
    "UsageLedger",
    "is_retryable",
    "retry_after_seconds",
]


_RETRY_STATUS = {408, 409, 425, 429}


def is_retryable(exc: BaseException) -> bool:
    """True for transient failures: 429, 5xx, 408/409, timeouts, connection errors, malformed
    or empty answers. False for 400, 401, 403, 404 and other client errors."""
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status in _RETRY_STATUS or status >= 500 or status < 400
    if isinstance(exc, EmptyCompletionError | TimeoutError | ConnectionError | OSError):
        return True
    if isinstance(exc, json.JSONDecodeError):
        return True
    name = type(exc).__name__
    return any(
        key in name
        for key in ("Timeout", "Connect", "Network", "ReadError", "RemoteProtocol", "Decoding")
    )


def retry_after_seconds(exc: BaseException) -> float | None:
    """Seconds asked for by a ``Retry-After`` (or ``retry-after-ms``) header, if any."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


class Retrying:
    """Retry transient failures of ``backend`` with exponential backoff and jitter.

    Args:
        backend: the wrapped backend.
        attempts: total tries per call.
        wait_min: smallest backoff in seconds.
        wait_max: largest backoff, and the cap on a server's ``Retry-After``.
        on_retry: called with the exception before each new try (counts retries).
    """

    def __init__(
        self,
        backend: ChatBackend,
        *,
        attempts: int = 6,
        wait_min: float = 0.5,
        wait_max: float = 30.0,
        on_retry: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.backend = backend
        self.name = backend.name
        self.attempts = attempts
        self._backoff = wait_random_exponential(multiplier=wait_min, max=wait_max)
        self.wait_max = wait_max
        self.on_retry = on_retry

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        asked = retry_after_seconds(exc) if exc else None
        if asked is not None:
            return min(asked, self.wait_max)
        return float(self._backoff(state))

    def _before_sleep(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        if self.on_retry is not None and exc is not None:
            self.on_retry(exc)

    def _retrying(self) -> AsyncRetrying:
        """Tries for one call: retryable errors again, up to ``attempts``, waiting between."""
        return AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=self._wait,
            retry=retry_if_exception(is_retryable),
            before_sleep=self._before_sleep,
            reraise=True,
        )

    async def acomplete(self, messages: Sequence[Message], **options: Any) -> Completion:
        async for attempt in self._retrying():
            with attempt:
                return await self.backend.acomplete(messages, **options)
        raise AssertionError("unreachable")  # pragma: no cover

    passes_choice_through = True

    async def achoose(
        self,
        messages: Sequence[Message],
        options: Sequence[str],
        *,
        default: str | None = None,
        **kw: Any,
    ) -> Choice:
        """The inner chooser's ``achoose``, retried; else ask through this backend."""
        if native_chooser(self.backend) is None:
            return await ask_choice(self, messages, options, default=default, **kw)
        async for attempt in self._retrying():
            with attempt:
                return await self.backend.achoose(messages, options, default=default, **kw)  # type: ignore[attr-defined]
        raise AssertionError("unreachable")  # pragma: no cover


class _Bucket:
    """A token bucket holding at most ``per_minute`` units, refilled continuously."""

    def __init__(self, per_minute: float) -> None:
        self.capacity = per_minute
        self.level = per_minute
        self.rate = per_minute / 60.0
        self.stamp = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def delay_for(self, amount: float) -> float:
        self._refill()
        amount = min(amount, self.capacity)
        return 0.0 if self.level >= amount else (amount - self.level) / self.rate

    def take(self, amount: float) -> None:
        self._refill()
        self.level -= amount


class RateLimited:
    """Keep ``backend`` under a requests-per-minute and a tokens-per-minute limit.

    Tokens are estimated before the call (characters / 4 plus ``max_tokens``) and corrected
    with the reported usage afterwards. ``None`` disables a limit.
    """

    def __init__(
        self,
        backend: ChatBackend,
        *,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
    ) -> None:
        self.backend = backend
        self.name = backend.name
        self._rpm = _Bucket(requests_per_minute) if requests_per_minute else None
        self._tpm = _Bucket(tokens_per_minute) if tokens_per_minute else None
        self._lock = asyncio.Lock()

    async def _acquire(self, tokens: float) -> None:
        async with self._lock:
            while True:
                delay = max(
                    self._rpm.delay_for(1) if self._rpm else 0.0,
                    self._tpm.delay_for(tokens) if self._tpm else 0.0,
                )
                if delay <= 0:
                    break
                await asyncio.sleep(delay)
            if self._rpm:
                self._rpm.take(1)
            if self._tpm:
                self._tpm.take(tokens)

    async def acomplete(self, messages: Sequence[Message], **options: Any) -> Completion:
        estimate = sum(len(c) for _, c in messages) / 4 + int(options.get("max_tokens") or 256)
        await self._acquire(estimate)
        completion = await self.backend.acomplete(messages, **options)
        if self._tpm and (completion.prompt_tokens or completion.completion_tokens):
            actual = completion.prompt_tokens + completion.completion_tokens
            self._tpm.take(actual - estimate)
        return completion

    passes_choice_through = True

    async def achoose(
        self,
        messages: Sequence[Message],
        options: Sequence[str],
        *,
        default: str | None = None,
        **kw: Any,
    ) -> Choice:
        """The inner chooser's ``achoose`` within the limits; else ask through this backend."""
        if native_chooser(self.backend) is None:
            return await ask_choice(self, messages, options, default=default, **kw)
        await self._acquire(sum(len(c) for _, c in messages) / 4 + 16)
        return await self.backend.achoose(messages, options, default=default, **kw)  # type: ignore[attr-defined]


@dataclass
class ModelUsage:
    """Totals for one model."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


@dataclass
class UsageLedger:
    """Usage per model, plus retry and error counts, for a whole run.

    ``prices`` maps a model name to US dollars per million (prompt, completion) tokens.
    """

    prices: dict[str, tuple[float, float]] = field(default_factory=dict)
    models: dict[str, ModelUsage] = field(default_factory=dict)
    retries: int = 0
    errors: int = 0
    failovers: int = 0
    """Times a replica was taken out (see :class:`~sweetiechat.backends.replicas.Replicated`)."""

    def price(self, model: str, prompt: int, completion: int) -> float:
        """Cost of one call; 0 for a model without a known price."""
        rates = self.prices.get(model)
        if rates is None:
            # "gpt-4o-mini-2024-07-18" is priced as "gpt-4o-mini".
            best = max((k for k in self.prices if model.startswith(k)), key=len, default=None)
            rates = self.prices.get(best) if best else None
        if rates is None:
            return 0.0
        return (prompt * rates[0] + completion * rates[1]) / 1_000_000

    def add(self, model: str, prompt: int, completion: int) -> float:
        """Record one call; returns its cost."""
        cost = self.price(model, prompt, completion)
        entry = self.models.setdefault(model, ModelUsage())
        entry.calls += 1
        entry.prompt_tokens += prompt
        entry.completion_tokens += completion
        entry.cost_usd += cost
        return cost

    def count_retry(self, _exc: BaseException | None = None) -> None:
        """A callback for :class:`Retrying`'s ``on_retry``."""
        self.retries += 1

    @property
    def total(self) -> ModelUsage:
        """All models together."""
        out = ModelUsage()
        for m in self.models.values():
            out.calls += m.calls
            out.prompt_tokens += m.prompt_tokens
            out.completion_tokens += m.completion_tokens
            out.cost_usd += m.cost_usd
        return out


class Metered:
    """Count each call's tokens and cost into ``ledger`` and the current dialogue's usage."""

    def __init__(self, backend: ChatBackend, ledger: UsageLedger) -> None:
        self.backend = backend
        self.name = backend.name
        self.ledger = ledger

    async def acomplete(self, messages: Sequence[Message], **options: Any) -> Completion:
        completion = await self.backend.acomplete(messages, **options)
        model = completion.model or self.name
        cost = self.ledger.add(model, completion.prompt_tokens, completion.completion_tokens)
        usage = DIALOGUE_USAGE.get()
        if usage is not None:
            usage.calls += 1
            usage.prompt_tokens += completion.prompt_tokens
            usage.completion_tokens += completion.completion_tokens
            usage.cost_usd += cost
        return completion

    passes_choice_through = True

    async def achoose(
        self,
        messages: Sequence[Message],
        options: Sequence[str],
        *,
        default: str | None = None,
        **kw: Any,
    ) -> Choice:
        """The inner chooser's ``achoose``, counted as one call without tokens (put
        :class:`Metered` under a chooser that makes HTTP calls to count their tokens);
        else ask through this backend, counting every call."""
        if native_chooser(self.backend) is None:
            return await ask_choice(self, messages, options, default=default, **kw)
        choice = await self.backend.achoose(messages, options, default=default, **kw)  # type: ignore[attr-defined]
        self.ledger.add(self.name, 0, 0)
        usage = DIALOGUE_USAGE.get()
        if usage is not None:
            usage.calls += 1
        return choice
