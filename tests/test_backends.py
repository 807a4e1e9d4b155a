"""Backends and wrappers, against a real HTTP server and the real langchain-openai client."""

import asyncio

import httpx
import pytest
from langchain_openai import ChatOpenAI

from sweetiechat.backends import (
    EmptyCompletionError,
    LangChainBackend,
    Metered,
    RateLimited,
    Retrying,
    UsageLedger,
    wrappers,
)
from sweetiechat.backends.wrappers import DIALOGUE_USAGE, is_retryable, retry_after_seconds
from sweetiechat.testing import FaultConfig, OpenAITestServer
from sweetiechat.types import Usage


def _client(server: OpenAITestServer, model: str = "seeker", timeout: float = 5.0) -> ChatOpenAI:
    return ChatOpenAI(
        base_url=server.base_url, api_key="sk-test", model=model, max_retries=0, timeout=timeout
    )


def _backend(server, **kw) -> LangChainBackend:
    return LangChainBackend(_client(server, **kw))


MESSAGES = [
    ("system", "You are role-playing a person who is seeking emotional support."),
    ("user", "Write your first message."),
]


def test_completion_text_usage_and_model():
    with OpenAITestServer() as server:
        c = asyncio.run(_backend(server).acomplete(MESSAGES))
    assert c.text
    assert c.model == "seeker"
    assert c.prompt_tokens > 0 and c.completion_tokens > 0


@pytest.mark.parametrize("kind", ["rate_limit", "server_error", "malformed_json", "empty_content"])
def test_retrying_recovers_from_transient_faults(kind):
    retries = []
    with OpenAITestServer(faults=FaultConfig(rate=0.5, kinds=(kind,), seed=3)) as server:
        backend = Retrying(
            _backend(server), attempts=12, wait_min=0.01, wait_max=0.05, on_retry=retries.append
        )

        async def many():
            return await asyncio.gather(*(backend.acomplete(MESSAGES) for _ in range(10)))

        results = asyncio.run(many())
        injected = server.injected[kind]
    assert all(r.text for r in results)
    assert injected > 0
    assert len(retries) == injected


def test_timeout_is_retried():
    with OpenAITestServer(faults=FaultConfig(rate=1.0, kinds=("hang",), hang_s=2.0)) as server:
        backend = Retrying(_backend(server, timeout=0.3), attempts=2, wait_min=0.01, wait_max=0.01)
        retries = []
        backend.on_retry = retries.append
        with pytest.raises(Exception) as info:
            asyncio.run(backend.acomplete(MESSAGES))
    assert "Timeout" in type(info.value).__name__
    assert len(retries) == 1


def test_bad_request_is_never_retried():
    calls = []

    class Bad:
        name = "bad"

        async def acomplete(self, messages, **options):
            calls.append(1)
            err = RuntimeError("bad request")
            err.status_code = 400  # type: ignore[attr-defined]
            raise err

    with pytest.raises(RuntimeError):
        asyncio.run(Retrying(Bad(), attempts=5, wait_min=0.01).acomplete(MESSAGES))
    assert calls == [1]


def test_retry_after_is_honoured(monkeypatch):
    waits = []
    real_sleep = asyncio.sleep

    async def fake_sleep(seconds, *a, **k):
        waits.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    with OpenAITestServer(
        faults=FaultConfig(rate=1.0, kinds=("rate_limit",), retry_after=7)
    ) as server:
        backend = Retrying(_backend(server), attempts=3, wait_min=0.01, wait_max=30)
        with pytest.raises(Exception):
            asyncio.run(backend.acomplete(MESSAGES))
    assert waits == [7.0, 7.0]


def test_classification():
    class E(Exception):
        def __init__(self, status):
            self.status_code = status

    assert is_retryable(E(429)) and is_retryable(E(503)) and is_retryable(E(408))
    assert not is_retryable(E(400)) and not is_retryable(E(401)) and not is_retryable(E(404))
    assert is_retryable(EmptyCompletionError("x"))
    assert is_retryable(httpx.ConnectError("refused"))
    assert not is_retryable(ValueError("x"))

    class R(Exception):
        response = httpx.Response(429, headers={"retry-after-ms": "1500"})

    assert retry_after_seconds(R()) == 1.5


def test_rate_limiter_spaces_requests(monkeypatch):
    clock = [0.0]
    waits = []

    async def fake_sleep(seconds, *a, **k):
        waits.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr(wrappers.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(wrappers.asyncio, "sleep", fake_sleep)

    class Echo:
        name = "echo"
        tokens = (10, 5)

        async def acomplete(self, messages, **options):
            from sweetiechat.backends import Completion

            return Completion(
                text="ok", prompt_tokens=self.tokens[0], completion_tokens=self.tokens[1]
            )

    limited = RateLimited(Echo(), requests_per_minute=60)

    async def run():
        for _ in range(5):
            await limited.acomplete(MESSAGES)

    asyncio.run(run())
    # A bucket of 60/min starts full: 60 calls pass, then one per second.
    assert waits == []
    limited = RateLimited(Echo(), requests_per_minute=2)
    asyncio.run(run())
    assert sum(waits) == pytest.approx(90.0)  # calls 3, 4, 5 wait 30 s each

    waits.clear()
    heavy = Echo()
    heavy.tokens = (100, 200)
    by_tokens = RateLimited(heavy, tokens_per_minute=600)

    async def big():
        for _ in range(3):
            await by_tokens.acomplete([("user", "x" * 400)], max_tokens=200)  # 300 tokens each

    asyncio.run(big())
    # 600 tokens pass at once; the third call waits for 300 tokens at 10 tokens/s.
    assert sum(waits) == pytest.approx(30.0)


def test_metered_counts_tokens_cost_and_dialogue_usage():
    ledger = UsageLedger(prices={"gpt-4o-mini": (0.15, 0.60)})
    with OpenAITestServer() as server:
        backend = Metered(_backend(server, model="gpt-4o-mini-2024-07-18"), ledger)

        async def run():
            usage = Usage()
            DIALOGUE_USAGE.set(usage)
            await backend.acomplete(MESSAGES)
            await backend.acomplete(MESSAGES)
            return usage

        usage = asyncio.run(run())
    entry = ledger.models["gpt-4o-mini-2024-07-18"]
    assert entry.calls == 2 == usage.calls
    assert usage.prompt_tokens == entry.prompt_tokens > 0
    expected = (entry.prompt_tokens * 0.15 + entry.completion_tokens * 0.60) / 1e6
    assert entry.cost_usd == pytest.approx(expected)
    assert ledger.total.cost_usd == pytest.approx(expected)


def test_api_key_never_in_request_log_or_errors():
    with OpenAITestServer(faults=FaultConfig(rate=1.0, kinds=("server_error",))) as server:
        backend = Retrying(_backend(server), attempts=1)
        with pytest.raises(Exception) as info:
            asyncio.run(backend.acomplete(MESSAGES))
        bodies = str(server.requests)
    assert "sk-test" not in str(info.value) and "sk-test" not in bodies


def test_as_backend_rejects_what_is_no_model_at_once():
    from sweetiechat.agents import SeekerAgent
    from sweetiechat.backends import as_backend

    with pytest.raises(TypeError, match=r"ChatOpenAI\(model=.*ChatBackend"):
        as_backend("gpt-4o-mini")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="got str"):
        SeekerAgent("gpt-4o-mini")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        as_backend(LangChainBackend)  # type: ignore[arg-type]  # a class, not an instance


def test_a_raw_model_passed_to_agents_is_counted_in_the_dialogue_usage():
    from sweetiechat.agents import PromptedCounselor, SeekerAgent, SupporterAgent
    from sweetiechat.conversation import Conversation

    with OpenAITestServer() as server:
        model = _client(server, model="test-model")
        conversation = Conversation(
            seeker=SeekerAgent(model),
            supporter=SupporterAgent(model),
            counselor=PromptedCounselor(model),
            problem_type="Burnout",
            max_seeker_turns=3,
            min_seeker_turns=3,
        )
        dialogue = conversation.run()
        calls = sum(server.calls.values())
    assert dialogue.meta.usage.calls == calls >= 5
    assert dialogue.meta.usage.prompt_tokens > 0 and dialogue.meta.usage.completion_tokens > 0
    # Behind Metered, a call is counted once, not twice.
    ledger = UsageLedger()
    usage = Usage()
    token = DIALOGUE_USAGE.set(usage)
    try:
        with OpenAITestServer() as server:
            asyncio.run(Metered(_backend(server), ledger).acomplete(MESSAGES))
    finally:
        DIALOGUE_USAGE.reset(token)
    assert usage.calls == 1 == ledger.total.calls


def test_every_sync_twin_works_again_and_again_with_one_real_client():
    """Issue 14: langchain-openai's async client is bound to the loop of its first use."""
    from sweetiechat.agents import (
        FreeSupporterAgent,
        ProfileWriter,
        PromptedCounselor,
        ScenarioWriter,
        SeekerAgent,
        ServedCounselor,
        SupporterAgent,
    )
    from sweetiechat.backends import choose
    from sweetiechat.conversation import Conversation
    from sweetiechat.taxonomy import ProblemType
    from sweetiechat.types import Dialogue, SeekerProfile, Turn

    d = Dialogue(id="d", problem_type="Burnout", turns=[Turn(role="seeker", text="I am so tired.")])
    example = SeekerProfile(problem_type="Burnout", scenario="x", text="Ana, 30, nurse in Porto.")
    with OpenAITestServer() as server:
        model = ChatOpenAI(base_url=server.base_url, api_key="EMPTY", model="x", max_retries=0)
        for mode in ("choice", "logprobs"):
            served = ServedCounselor(LangChainBackend(model), mode=mode)  # as its docstring says
            assert [served.select(d).fallback for _ in range(3)] == [False] * 3
        prompted = PromptedCounselor(model)
        seeker, supporter, free = (
            SeekerAgent(model),
            SupporterAgent(model),
            FreeSupporterAgent(model),
        )
        scenario, profile = ScenarioWriter(model), ProfileWriter(model)
        conversation = Conversation(
            seeker=seeker, supporter=supporter, counselor=prompted, problem_type="Burnout"
        )
        free_conversation = Conversation(
            seeker=seeker, supporter=free, counselor=None, problem_type="Burnout"
        )
        for _ in range(2):
            assert not prompted.select(d).fallback
            assert seeker.respond(d).text
            assert supporter.respond(d, "Question").text
            assert free.respond(d).text
            written = scenario.write(ProblemType.BURNOUT, None)
            assert profile.write(ProblemType.BURNOUT, written.text, example).text
            assert choose(model, [("user", "Yes or no?")], ["Yes", "No"]).label
            assert len(conversation.run().turns) >= 3
            assert len(free_conversation.run().turns) >= 3
