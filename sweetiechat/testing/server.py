"""A real HTTP server on 127.0.0.1 that speaks OpenAI chat completions, for tests and demos.

It serves ``POST /v1/chat/completions`` (with ``logprobs``/``top_logprobs`` and vLLM's
``structured_outputs.choice``) and ``GET /v1/models``. Replies are scripted per role,
latency is configurable, and faults can be injected at a given rate.

>>> from langchain_openai import ChatOpenAI                      # doctest: +SKIP
>>> with OpenAITestServer(latency=0.1) as server:                 # doctest: +SKIP
...     model = ChatOpenAI(base_url=server.base_url, api_key="x", model="seeker")
...     model.invoke("Hello").content
"""

from __future__ import annotations

import json
import math
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sweetiechat.taxonomy import Strategy
from sweetiechat.testing.script import ChatRequest, Reply, RolePlayScript, detect_role

__all__ = ["FAULTS", "FaultConfig", "OpenAITestServer"]

#: The kinds of fault the server can inject.
FAULTS = (
    "rate_limit",  # 429 with Retry-After
    "server_error",  # 500
    "hang",  # no answer until long after the client's timeout
    "malformed_json",  # 200 with a body that is not JSON
    "empty_content",  # 200 with "content": ""
    "invalid_strategy",  # a counselor answer that is no strategy (other roles: no fault)
)


@dataclass
class FaultConfig:
    """Which faults to inject, and how often."""

    rate: float = 0.0
    """Probability that a request gets a fault."""
    kinds: tuple[str, ...] = FAULTS
    """Faults drawn from, uniformly."""
    retry_after: float = 0.05
    """Seconds sent in ``Retry-After`` with a 429."""
    hang_s: float = 3.0
    """How long a hanging request waits before answering."""
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown fault kind(s) {sorted(unknown)}; known: {FAULTS}")


Script = Callable[[ChatRequest], "str | Reply"]


def _tokens(text: str) -> list[str]:
    return re.findall(r"\s*\S+", text) or [text]


@dataclass
class _Shared:
    script: Script
    latency: float
    faults: FaultConfig
    models: tuple[str, ...]
    rng: random.Random
    lock: threading.Lock = field(default_factory=threading.Lock)
    calls: Counter[str] = field(default_factory=Counter)
    injected: Counter[str] = field(default_factory=Counter)
    requests: list[dict[str, Any]] = field(default_factory=list)
    keep_requests: int = 1000
    api_key: str | None = None
    rejected: int = 0


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls between header and body

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), headers)

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/stats"):
            shared = self.server.shared
            with shared.lock:
                stats = {
                    "calls": sum(shared.calls.values()),
                    "by_role": dict(shared.calls),
                    "faults": dict(shared.injected),
                }
            self._json(200, stats)
        elif self.path.rstrip("/").endswith("/models"):
            data = [
                {"id": m, "object": "model", "owned_by": "sweetiechat"}
                for m in self.server.shared.models
            ]
            self._json(200, {"object": "list", "data": data})
        else:
            self._json(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:
        shared = self.server.shared
        length = int(self.headers.get("Content-Length") or 0)
        given = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
        if shared.api_key is not None and given != shared.api_key:
            self.rfile.read(length)
            with shared.lock:
                shared.rejected += 1
            message = f"Incorrect API key provided: {given}."  # as OpenAI answers
            self._json(401, {"error": {"message": message, "type": "invalid_request_error"}})
            return
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            self._json(
                400,
                {"error": {"message": "request body is not JSON", "type": "invalid_request_error"}},
            )
            return
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._json(404, {"error": {"message": f"no route {self.path}"}})
            return
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            self._json(
                400,
                {
                    "error": {
                        "message": "messages must be a non-empty list",
                        "type": "invalid_request_error",
                    }
                },
            )
            return
        role = detect_role(messages, str(body.get("model", "")))
        with shared.lock:
            shared.calls[role] += 1
            if len(shared.requests) < shared.keep_requests:
                shared.requests.append(body)
            fault = (
                shared.rng.choice(shared.faults.kinds)
                if shared.rng.random() < shared.faults.rate
                else None
            )
            if fault == "invalid_strategy" and role != "counselor":
                fault = None
            if fault:
                shared.injected[fault] += 1
            seed = shared.rng.random()
        if shared.latency:
            time.sleep(shared.latency)
        if fault == "rate_limit":
            self._json(
                429,
                {"error": {"message": "rate limited", "type": "rate_limit_error"}},
                {"Retry-After": f"{shared.faults.retry_after:g}"},
            )
            return
        if fault == "server_error":
            self._json(500, {"error": {"message": "internal error", "type": "server_error"}})
            return
        if fault == "hang":
            time.sleep(shared.faults.hang_s)
        if fault == "malformed_json":
            self._send(200, b'{"id": "chatcmpl-broken", "choices": [{"mess')
            return
        request = ChatRequest(role=role, messages=messages, body=body, rng=random.Random(seed))
        scripted: list[dict[str, float]] = []
        if fault == "empty_content":
            content = ""
        elif fault == "invalid_strategy":
            content = "I would go with empathy and a warm hug here."
        else:
            reply = shared.script(request)
            content, scripted = (
                (reply.content, reply.top_logprobs) if isinstance(reply, Reply) else (reply, [])
            )
        choice = (body.get("structured_outputs") or {}).get("choice")
        if choice and fault != "invalid_strategy" and content not in choice:
            content = request.rng.choice(choice)
        self._json(200, _completion(body, content, request, scripted))


def _completion(
    body: dict[str, Any],
    content: str,
    request: ChatRequest,
    scripted: list[dict[str, float]] | None = None,
) -> dict[str, Any]:
    prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body["messages"])
    tokens = _tokens(content) if content else []
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    finish = "stop"
    if max_tokens and len(tokens) > int(max_tokens):
        tokens = tokens[: int(max_tokens)]
        content = "".join(tokens)
        finish = "length"
    choice: dict[str, Any] = {
        "index": 0,
        "message": {"role": "assistant", "content": content},
        "finish_reason": finish,
    }
    if body.get("logprobs"):
        top_n = int(body.get("top_logprobs") or 0)
        scripted = scripted or []
        choice["logprobs"] = {
            "content": [
                _token_logprobs(t, i, top_n, request, scripted[i] if i < len(scripted) else None)
                for i, t in enumerate(tokens)
            ]
        }
    return {
        "id": f"chatcmpl-{int(request.rng.random() * 1e12):x}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "test-model"),
        "choices": [choice],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(tokens),
            "total_tokens": prompt_tokens + len(tokens),
        },
    }


#: Each strategy's first word: the first token of a label in the served model, as far as the
#: test server's whitespace tokens go.
_LABEL_STARTS = tuple(s.value.split()[0] for s in Strategy)


def _entry(token: str, logprob: float) -> dict[str, Any]:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode())}


def _token_logprobs(
    token: str,
    position: int,
    top_n: int,
    request: ChatRequest,
    scripted: dict[str, float] | None = None,
) -> dict[str, Any]:
    """One generated token's ``logprobs`` entry.

    ``scripted`` alternatives are sent as given, best first. Otherwise the token gets
    probability 0.6; for a counselor's first token that starts a strategy, the other
    strategies' first words share the remaining 0.4, decreasing (a plausible served
    counselor); other tokens have no alternatives.
    """
    if scripted is not None:
        alternatives = sorted(scripted.items(), key=lambda kv: -kv[1])
        chosen = scripted.get(token, alternatives[0][1] if alternatives else -0.1)
    else:
        chosen = math.log(0.6)
        alternatives = [(token, chosen)]
        if position == 0 and request.role == "counselor" and token.strip() in _LABEL_STARTS:
            others = [s for s in _LABEL_STARTS if s != token.strip()]
            weights = [0.5**i for i in range(len(others))]
            alternatives += [
                (s, math.log(0.4 * w / sum(weights))) for s, w in zip(others, weights, strict=True)
            ]
    return {
        **_entry(token, chosen),
        "top_logprobs": [_entry(t, lp) for t, lp in alternatives[:top_n]],
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], shared: _Shared) -> None:
        self.shared = shared
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up (timeouts, shutdown) are normal here: stay quiet."""


class OpenAITestServer:
    """An OpenAI-compatible chat server on 127.0.0.1, in a background thread.

    Args:
        script: ``request -> reply text``; default :class:`RolePlayScript` (role-aware).
        latency: seconds each request takes.
        faults: faults to inject (default none).
        models: names listed by ``/v1/models``.
        api_key: when set, chat requests with another bearer key get a 401, as from OpenAI.
        port: 0 picks a free port.
    """

    def __init__(
        self,
        script: Script | None = None,
        *,
        latency: float = 0.0,
        faults: FaultConfig | None = None,
        models: tuple[str, ...] = ("test-model",),
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        faults = faults or FaultConfig()
        self.shared = _Shared(
            script=script or RolePlayScript(),
            latency=latency,
            faults=faults,
            models=models,
            rng=random.Random(faults.seed),
            api_key=api_key,
        )
        self._httpd = _Server((host, port), self.shared)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    @property
    def calls(self) -> Counter[str]:
        """Requests received, by detected role."""
        return self.shared.calls

    @property
    def injected(self) -> Counter[str]:
        """Faults injected, by kind."""
        return self.shared.injected

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The first 1,000 request bodies received."""
        return self.shared.requests

    def start(self) -> OpenAITestServer:
        """Start serving in a daemon thread."""
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> OpenAITestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
