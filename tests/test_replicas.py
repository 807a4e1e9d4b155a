"""Several replicas of one model: least outstanding requests, failover, recovery."""

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from sweetiechat.backends.base import Completion
from sweetiechat.backends.replicas import Replicated
from sweetiechat.config import GenerationConfig
from sweetiechat.errors import ConfigError
from sweetiechat.generate import generate_dialogues
from sweetiechat.io import read_dialogues


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Replica:
    """A scripted replica: answers after ``delay`` seconds, or raises ``error``."""

    def __init__(self, name: str, delay: float = 0.0) -> None:
        self.name = name
        self.delay = delay
        self.error: Exception | None = None
        self.calls = 0

    async def acomplete(self, messages, **options):
        self.calls += 1
        await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return Completion(text=self.name)


class Status500(Exception):
    status_code = 500


def ask(backend, times):
    """``times`` requests one after the other; errors are returned, not raised."""

    async def many():
        out = []
        for _ in range(times):
            try:
                out.append(await backend.acomplete([("user", "hi")]))
            except Exception as err:
                out.append(err)
        return out

    return asyncio.run(many())


def test_requests_go_to_the_replica_with_fewest_in_flight():
    slow, fast = Replica("slow", delay=0.2), Replica("fast", delay=0.0)
    both = Replicated([slow, fast])

    async def trickle():
        out = []
        for _ in range(20):  # one new request every 10 ms: the slow one stays busy
            out.append(asyncio.create_task(both.acomplete([("user", "hi")])))
            await asyncio.sleep(0.01)
        return await asyncio.gather(*out)

    asyncio.run(trickle())
    assert fast.calls > 2 * slow.calls and slow.calls >= 1


def test_a_refused_replica_is_taken_out_then_tried_again_after_cooldown():
    clock, events = Clock(), []
    a, b = Replica("a"), Replica("b")
    a.error = ConnectionError("connection refused")
    both = Replicated([a, b], cooldown=5.0, clock=clock, on_eject=lambda *e: events.append(e[0]))
    results = ask(both, 10)
    assert a.calls == 1 and b.calls == 9  # out after its first refusal
    assert sum(isinstance(r, ConnectionError) for r in results) == 1
    assert events == ["replica-0"]
    a.error = None
    clock.now = 6.0  # cooldown over: it gets traffic again
    ask(both, 10)
    assert a.calls > 1
    assert both.stats["replica-0"]["ejections"] == 1


def test_5xx_takes_a_replica_out_after_repeated_failures_and_backs_off():
    clock = Clock()
    a, b = Replica("a"), Replica("b")
    a.error = Status500("boom")
    both = Replicated([a, b], failures_to_eject=2, cooldown=1.0, clock=clock)
    ask(both, 8)
    assert a.calls == 2  # two 500s in a row, then out
    clock.now = 1.5  # back in; fails twice again: out for twice as long
    ask(both, 8)
    assert a.calls == 4
    assert both.replicas[0].ejected_until == pytest.approx(1.5 + 2.0)


def test_an_empty_or_repeated_url_list_is_a_config_error():
    with pytest.raises(ValueError, match="empty list"):
        GenerationConfig.model_validate({"defaults": {"base_url": []}})
    with pytest.raises(ValueError, match="same URL twice"):
        GenerationConfig.model_validate({"defaults": {"base_url": ["http://a/v1"] * 2}})
    one = GenerationConfig.model_validate({"defaults": {"base_url": ["http://a/v1"]}})
    assert one.role("seeker").base_url == "http://a/v1"


def _server(latency: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "sweetiechat.testing", "--latency", str(latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


@pytest.mark.slow
def test_a_run_survives_one_of_two_replicas_dying(tmp_path):
    servers = [_server(0.02), _server(0.02)]
    out = tmp_path / "r.jsonl"
    try:
        cfg = GenerationConfig.model_validate(
            {
                "defaults": {
                    "backend": "openai",
                    "base_url": [url for _, url in servers],
                    "model": "test-model",
                    "api_key_env": "",
                    "timeout": 3.0,
                    "wait_max": 0.2,
                },
                "counselor": {"kind": "prompted"},
                "max_seeker_turns": 3,
                "min_seeker_turns": 3,
                "concurrency": 4,
            }
        )

        done = threading.Event()

        def kill_first() -> None:  # mid-run: once 3 dialogues are written
            while not done.is_set():
                if out.exists() and out.read_text().count("\n") >= 3:
                    os.kill(servers[0][0].pid, signal.SIGKILL)
                    servers[0][0].wait()
                    return
                time.sleep(0.02)

        killer = threading.Thread(target=kill_first, daemon=True)
        killer.start()
        state = generate_dialogues(12, out, cfg)
        done.set()
        killer.join(timeout=5)
        assert servers[0][0].poll() is not None, "the first replica was never killed"
    finally:
        for proc, _ in servers:
            proc.kill()
            proc.wait()
    assert state.written == 12 and not state.failures
    assert state.ledger.failovers >= 1
    assert len({d.id for d in read_dialogues(out)}) == 12


def test_preflight_needs_one_replica_that_answers(tmp_path):
    from sweetiechat.factory import preflight

    cfg = GenerationConfig.model_validate(
        {
            "defaults": {
                "backend": "openai",
                "base_url": ["http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1"],
                "model": "m",
                "api_key_env": "",
            }
        }
    )
    with pytest.raises(ConfigError, match=r"cannot reach .*127.0.0.1:1.*127.0.0.1:2.*replicas"):
        preflight(cfg, timeout=1.0)
