"""A lean OpenAI-compatible chat-completions backend: one ``POST`` on a shared httpx client.

``ChatOpenAI`` builds typed request objects, transforms them back into dicts and parses the
answer into typed models; at high concurrency on a small machine that bookkeeping is most of
the client's CPU per call (docs/performance.md). :class:`OpenAIHTTPBackend` sends the JSON
body itself and reads the few fields sweetiechat uses: the text, the token counts and, when
asked, the top log-probabilities. Use it with ``client = "direct"`` in a role's settings.

It speaks the protocol of OpenAI, vLLM, llama.cpp and Ollama's ``/v1``. Options are the
request's own fields (``max_tokens``, ``temperature``, ``logprobs``, ``top_logprobs``,
``stop`` ...); ``extra_body`` is merged into the body, as with the OpenAI SDK. A non-2xx
answer raises :class:`APIStatusError` with ``status_code`` and ``response``, so
:class:`~sweetiechat.backends.Retrying` retries 429 and 5xx (honouring ``Retry-After``) and
not 400 or 401. The key is sent as a header and never appears in an error or a log.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sweetiechat.backends.base import Completion, EmptyCompletionError, Message

if TYPE_CHECKING:
    import httpx

__all__ = ["APIStatusError", "OpenAIHTTPBackend", "http_client"]

_ROLES = {"human": "user", "ai": "assistant"}  # LangChain's names; the others pass as they are


class APIStatusError(RuntimeError):
    """The server answered with an error status.

    Attributes:
        status_code: the HTTP status.
        response: the httpx response (its headers carry ``Retry-After``).
    """

    def __init__(self, message: str, status_code: int, response: httpx.Response) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.response = response


def http_client(timeout: float, max_connections: int = 1024) -> httpx.AsyncClient:
    """An httpx client for many concurrent requests to one server: idle connections are kept
    (up to ``max_connections``), so a run at concurrency 256 does not reconnect per call."""
    import httpx

    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    return httpx.AsyncClient(timeout=timeout, limits=limits)


def _top_logprobs(choice: dict[str, Any]) -> list[dict[str, float]]:
    content = (choice.get("logprobs") or {}).get("content") or []
    return [
        {alt["token"]: float(alt["logprob"]) for alt in tok.get("top_logprobs") or []}
        or {tok["token"]: float(tok["logprob"])}
        for tok in content
    ]


def _error_text(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
        message = error.get("message") if isinstance(error, dict) else error
    except (ValueError, AttributeError):
        message = None
    return str(message or response.text or response.reason_phrase)[:300]


class OpenAIHTTPBackend:
    """Chat completions from an OpenAI-compatible server.

    Args:
        client: the shared ``httpx.AsyncClient`` (see :func:`http_client`); the caller closes it.
        base_url: the server's URL up to ``/v1``, e.g. ``http://127.0.0.1:8000/v1``.
        model: the model name sent with each request.
        api_key: sent as ``Authorization: Bearer``; ``""`` for servers without keys.
        temperature: the default temperature (an option overrides it).
        max_tokens: the default answer length in tokens (``max_tokens`` overrides it).
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str,
        model: str,
        api_key: str = "",
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> None:
        self.client = client
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
            EmptyCompletionError: an answer with no text (retryable).
            httpx.HTTPError: the connection failed or timed out (retryable).
        """
        content = json.dumps(self.body(messages, **options)).encode()
        response = await self.client.post(self.url, content=content, headers=self._headers)
        if response.status_code >= 400:
            reason = _error_text(response)
            if self._key:  # OpenAI's 401 message echoes the key it was given
                reason = reason.replace(self._key, "[redacted]")
            raise APIStatusError(
                f"{self.url} answered {response.status_code}: {reason}",
                response.status_code,
                response,
            )
        data = json.loads(response.content)
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
            top_logprobs=_top_logprobs(choice),
        )
