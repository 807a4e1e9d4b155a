"""The direct (httpx) OpenAI-compatible backend, against the real test server, side by side
with the langchain-openai path it replaces for large runs."""

from __future__ import annotations

import asyncio
import json
import warnings

import pytest
from langchain_openai import ChatOpenAI

from sweetiechat.backends import LangChainBackend, Metered, Retrying, UsageLedger
from sweetiechat.backends.http import APIStatusError, OpenAIHTTPBackend, http_client
from sweetiechat.config import GenerationConfig
from sweetiechat.factory import build_backend
from sweetiechat.generate import dialogue_id, generate_dialogues
from sweetiechat.io import read_dialogues
from sweetiechat.runs import run_folder
from sweetiechat.testing import FaultConfig, OpenAITestServer

MESSAGES = [
    ("system", "You are role-playing a person who is seeking emotional support."),
    ("human", "Write your first message."),
]


async def _direct(server: OpenAITestServer, call, *, key: str = "sk-test", timeout: float = 5.0):
    async with http_client(timeout) as client:
        backend = OpenAIHTTPBackend(
            client, base_url=server.base_url, model="seeker", api_key=key, max_tokens=40
        )
        return await call(backend)


def _langchain(server: OpenAITestServer) -> LangChainBackend:
    model = ChatOpenAI(
        base_url=server.base_url, api_key="sk-test", model="seeker", max_retries=0, timeout=5
    )
    return LangChainBackend(model)


def test_same_request_and_same_answer_fields_as_the_langchain_path():
    options = {"temperature": 0, "max_tokens": 1, "logprobs": True, "top_logprobs": 5}
    with OpenAITestServer() as server:
        direct = asyncio.run(_direct(server, lambda b: b.acomplete(MESSAGES, **options)))
        via_sdk = asyncio.run(_langchain(server).acomplete(MESSAGES, **options))
        plain = asyncio.run(_direct(server, lambda b: b.acomplete(MESSAGES)))
        sent_direct, sent_sdk, sent_plain = server.requests

    def normal(body: dict) -> dict:
        body = {k: v for k, v in body.items() if k != "stream"}
        if "max_completion_tokens" in body:
            body["max_tokens"] = body.pop("max_completion_tokens")
        return body

    assert normal(sent_direct) == normal(sent_sdk)  # LangChain's role names mapped, too
    for c in (direct, via_sdk):  # the server answers at random; the fields must all be read
        assert c.text and c.model == "seeker" and c.prompt_tokens > 0 and c.completion_tokens == 1
        assert len(c.top_logprobs) == 1 and c.text in c.top_logprobs[0]
    assert plain.text and plain.completion_tokens > 0 and not plain.top_logprobs
    assert sent_plain["max_tokens"] == 40 and "temperature" not in sent_plain


def test_extra_body_is_merged_into_the_request():
    with OpenAITestServer() as server:
        asyncio.run(
            _direct(
                server,
                lambda b: b.acomplete(
                    MESSAGES, max_tokens=3, extra_body={"structured_outputs": {"choice": ["a"]}}
                ),
            )
        )
        body = server.requests[-1]
    assert body["structured_outputs"] == {"choice": ["a"]} and body["max_tokens"] == 3
    assert "extra_body" not in body


@pytest.mark.parametrize("kind", ["rate_limit", "server_error", "malformed_json", "empty_content"])
def test_transient_faults_are_retried(kind):
    retries: list[BaseException] = []
    with OpenAITestServer(faults=FaultConfig(rate=0.5, kinds=(kind,), seed=3)) as server:

        async def many(backend):
            wrapped = Retrying(
                backend, attempts=12, wait_min=0.01, wait_max=0.05, on_retry=retries.append
            )
            return await asyncio.gather(*(wrapped.acomplete(MESSAGES) for _ in range(10)))

        results = asyncio.run(_direct(server, many))
        injected = server.injected[kind]
    assert all(r.text for r in results)
    assert injected > 0 and len(retries) == injected


def test_a_hang_times_out_and_is_retried():
    retries: list[BaseException] = []
    with OpenAITestServer(faults=FaultConfig(rate=1.0, kinds=("hang",), hang_s=2.0)) as server:

        async def once(backend):
            wrapped = Retrying(
                backend, attempts=2, wait_min=0.01, wait_max=0.01, on_retry=retries.append
            )
            return await wrapped.acomplete(MESSAGES)

        with pytest.raises(Exception) as info:
            asyncio.run(_direct(server, once, timeout=0.3))
    assert "Timeout" in type(info.value).__name__ and len(retries) == 1


def test_a_wrong_key_is_a_401_that_is_not_retried_and_never_shows_the_key():
    retries: list[BaseException] = []
    with OpenAITestServer(api_key="sk-the-right-one") as server:

        async def once(backend):
            wrapped = Retrying(backend, attempts=5, wait_min=0.01, on_retry=retries.append)
            return await wrapped.acomplete(MESSAGES)

        with pytest.raises(APIStatusError) as info:
            asyncio.run(_direct(server, once, key="sk-wrong-secret-123"))
    assert info.value.status_code == 401 and not retries
    assert server.base_url in str(info.value) and "Incorrect API key" in str(info.value)
    # the server's message echoes the key, as OpenAI's does; ours must not
    assert "sk-wrong-secret-123" not in str(info.value)


def test_the_key_is_in_no_repr_and_no_error_text():
    with OpenAITestServer(faults=FaultConfig(rate=1.0, kinds=("server_error",))) as server:

        async def once(backend):
            assert "sk-test" not in repr(backend)
            return await backend.acomplete(MESSAGES)

        with pytest.raises(APIStatusError) as info:
            asyncio.run(_direct(server, once))
    assert info.value.status_code == 500 and "sk-test" not in str(info.value)


def test_retry_after_is_honoured(monkeypatch):
    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(seconds, *a, **k):
        waits.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    with OpenAITestServer(
        faults=FaultConfig(rate=1.0, kinds=("rate_limit",), retry_after=7)
    ) as server:

        async def once(backend):
            return await Retrying(backend, attempts=3, wait_min=0.01, wait_max=30).acomplete(
                MESSAGES
            )

        with pytest.raises(APIStatusError):
            asyncio.run(_direct(server, once))
    assert waits == [7.0, 7.0]


def _config(url: str, **defaults) -> GenerationConfig:
    return GenerationConfig.model_validate(
        {
            "defaults": {
                "backend": "openai",
                "client": "direct",
                "base_url": url,
                "model": "test-model",
                "api_key_env": "",
                "timeout": 0.5,
                "attempts": 8,
                "wait_max": 0.05,
                **defaults,
            },
            "counselor": {"kind": "prompted"},
            "max_seeker_turns": 3,
            "min_seeker_turns": 2,
        }
    )


def test_the_factory_builds_the_direct_client_from_the_settings():
    cfg = _config("http://127.0.0.1:9/v1", temperature=0.3, max_tokens=77)
    shared: dict = {}
    backend = build_backend(cfg.role("supporter"), "supporter", UsageLedger(), shared)
    assert isinstance(backend, Metered)
    inner = backend.backend.backend  # Metered(Retrying(direct))
    assert isinstance(inner, OpenAIHTTPBackend)
    assert inner.url == "http://127.0.0.1:9/v1/chat/completions"
    assert inner.defaults == {"model": "test-model", "temperature": 0.3, "max_tokens": 77}
    second = build_backend(cfg.role("seeker"), "seeker", UsageLedger(), shared)
    assert second.backend.backend.pool is inner.pool  # one connection pool per server
    asyncio.run(inner.pool.aclose())


def test_a_run_on_the_direct_client_under_faults_and_its_resume_on_langchain(tmp_path):
    out = tmp_path / "direct.jsonl"
    faults = FaultConfig(rate=0.2, hang_s=1.5, retry_after=0.01, seed=5)
    with OpenAITestServer(faults=faults) as server:
        state = generate_dialogues(
            12, out, _config(server.base_url).model_copy(update={"concurrency": 6})
        )
        # the client is how requests travel, not what they say: a resume may switch it
        switched = _config(server.base_url, client="langchain")
        again = generate_dialogues(14, out, switched, resume=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dialogues = list(read_dialogues(out))
    assert state.written == 12 and not state.failures and state.ledger.retries > 0
    assert again.skipped == 12 and again.written == 2
    assert {d.id for d in dialogues} == {dialogue_id(0, i) for i in range(14)}
    assert all(d.meta.usage.calls > 0 and d.meta.usage.prompt_tokens > 0 for d in dialogues)
    run = json.loads((run_folder(out) / "run.json").read_text())
    assert "client" not in json.dumps(run["data_signature"])
