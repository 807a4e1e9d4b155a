"""A lean OpenAI-compatible chat-completions backend: one ``POST`` on a shared aiohttp pool.

``ChatOpenAI`` builds typed request objects, transforms them back into dicts, parses the
answer into typed models and sends it all through httpx, whose connection pool does work per
request that grows with the number of open connections; at high concurrency on a small
machine that bookkeeping is most of the client's CPU per call (docs/performance.md).
:class:`OpenAIHTTPBackend` sends the JSON body itself over aiohttp and reads the few fields
sweetiechat uses: the text, the token counts and, when asked, the top log-probabilities. Use
it with ``client = "direct"`` in a role's settings.

It speaks the protocol of OpenAI, vLLM, llama.cpp and Ollama's ``/v1``. Options are the
request's own fields (``max_tokens``, ``temperature``, ``logprobs``, ``top_logprobs``,
``stop`` ...); ``extra_body`` is merged into the body, as with the OpenAI SDK. A non-2xx
answer raises :class:`APIStatusError` with ``status_code`` and ``response``, so
:class:`~sweetiechat.backends.Retrying` retries 429 and 5xx (honouring ``Retry-After``) and
not 400 or 401; a broken connection raises :class:`APIConnectionError` and a slow answer
:class:`APITimeoutError`, both retried. The key is sent as a header and never appears in an
error or a log.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sweetiechat.backends.base import Completion, EmptyCompletionError, Message, top_logprobs

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "HTTPPool",
    "OpenAIHTTPBackend",
    "http_client",
]

_ROLES = {"human": "user", "ai": "assistant"}  # LangChain's names; the others pass as they are


@dataclass(frozen=True)
class ErrorResponse:
    """What an error answer said: its status, headers (``Retry-After``) and text."""

    status_code: int
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case
    text: str = ""


class APIStatusError(RuntimeError):
    """The server answered with an error status.

    Attributes:
        status_code: the HTTP status.
        response: the answer's status, headers (they carry ``Retry-After``) and text.
    """

    def __init__(self, message: str, status_code: int, response: ErrorResponse) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.response = response


class APIConnectionError(ConnectionError):
    """The connection to the server failed or broke (retryable)."""


class APITimeoutError(TimeoutError):
    """The server did not answer within the timeout (retryable)."""


class HTTPPool:
    """One aiohttp session per event loop, made on first use, for many concurrent requests to
    one server: idle connections are kept (up to ``max_connections``), so a run at
    concurrency 256 does not reconnect per call.

    Args:
        timeout: seconds a request may take in all.
        max_connections: open connections at most.
    """

    def __init__(self, timeout: float, max_connections: int = 1024) -> None:
        self.timeout = timeout
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def session(self) -> aiohttp.ClientSession:
        """The session of the running event loop."""
        import aiohttp

        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.max_connections)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=self.timeout)
            )
            self._loop = loop
        return self._session

    async def aclose(self) -> None:
        """Close the session (call it on the loop that used it)."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def __aenter__(self) -> HTTPPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def http_client(timeout: float, max_connections: int = 1024) -> HTTPPool:
    """A connection pool for :class:`OpenAIHTTPBackend` (close it with ``await aclose()``)."""
    return HTTPPool(timeout, max_connections)


def _error_text(body: bytes, reason: str) -> str:
    try:
        error = json.loads(body).get("error")
        message = error.get("message") if isinstance(error, dict) else error
    except (ValueError, AttributeError):
        message = None
    return str(message or body.decode("utf-8", "replace") or reason)[:300]


class OpenAIHTTPBackend:
    """Chat completions from an OpenAI-compatible server.

    Args:
        pool: the shared connection pool (see :func:`http_client`); the caller closes it.
        base_url: the server's URL up to ``/v1``, e.g. ``http://127.0.0.1:8000/v1``.
        model: the model name sent with each request.
        api_key: sent as ``Authorization: Bearer``; ``""`` for servers without keys.
        temperature: the default temperature (an option overrides it).
        max_tokens: the default answer length in tokens (``max_tokens`` overrides it).
    """

    def __init__(
        self,
        pool: HTTPPool,
        *,
        base_url: str,
        model: str,
        api_key: str = "",
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> None:
        self.pool = pool
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.name = model
        self.defaults: dict[str, Any] = {"model": model}
        if temperature is not None:
            self.defaults["temperature"] = temperature
        if max_tokens is not None:
            self.defaults["max_tokens"] = max_tokens
        self._headers = {"Content-Type": "application/json"}
        self._key = api_key  # only to scrub it from a server's error message
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"

    def __repr__(self) -> str:  # no key in reprs or logs
        return f"OpenAIHTTPBackend(url={self.url!r}, model={self.name!r})"

    def body(self, messages: Sequence[Message], **options: Any) -> dict[str, Any]:
        """The request body for ``messages`` and ``options``.

        >>> b = OpenAIHTTPBackend(None, base_url="http://h/v1", model="m", max_tokens=10)
        >>> b.body([("human", "Hi")], temperature=0, extra_body={"top_k": 5})
        ... # doctest: +NORMALIZE_WHITESPACE
        {'model': 'm', 'max_tokens': 10, 'temperature': 0, 'top_k': 5,
         'messages': [{'role': 'user', 'content': 'Hi'}]}
        """
        extra = options.pop("extra_body", None) or {}
        if "max_completion_tokens" in options:
            options["max_tokens"] = options.pop("max_completion_tokens")
        body = {**self.defaults, **options, **extra}
        body["messages"] = [{"role": _ROLES.get(r, r), "content": c} for r, c in messages]
        return body

    async def acomplete(self, messages: Sequence[Message], **options: Any) -> Completion:
        """Answer ``messages``; ``options`` are request fields (see the module's docstring).

        Raises:
            APIStatusError: a non-2xx answer (retryable for 408, 409, 429 and 5xx).
            APIConnectionError, APITimeoutError: no answer (retryable).
            EmptyCompletionError: an answer with no text (retryable).
        """
        content = json.dumps(self.body(messages, **options)).encode()
        import aiohttp

        try:
            async with self.pool.session().post(
                self.url, data=content, headers=self._headers
            ) as response:
                raw = await response.read()
                status, reason = response.status, str(response.reason or "")
                headers = (
                    {k.lower(): v for k, v in response.headers.items()} if status >= 400 else {}
                )
        except asyncio.TimeoutError:
            raise APITimeoutError(
                f"{self.url} did not answer within {self.pool.timeout} s"
            ) from None
        except aiohttp.ClientError as err:
            raise APIConnectionError(f"{self.url}: {type(err).__name__}: {err}") from None
        if status >= 400:
            text = _error_text(raw, reason)
            if self._key:  # OpenAI's 401 message echoes the key it was given
                text = text.replace(self._key, "[redacted]")
            raise APIStatusError(
                f"{self.url} answered {status}: {text}",
                status,
                ErrorResponse(status, headers, text),
            )
        data = json.loads(raw)
        choice = (data.get("choices") or [{}])[0]
        text = (choice.get("message") or {}).get("content") or ""
        if not text.strip():
            raise EmptyCompletionError(f"{self.name} returned empty content")
        usage = data.get("usage") or {}
        return Completion(
            text=text,
            model=str(data.get("model") or self.name),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            top_logprobs=top_logprobs(choice.get("logprobs")),
        )
