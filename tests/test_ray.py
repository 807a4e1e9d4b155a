"""Sharded generation on a local Ray cluster, against the test server."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sweetiechat.config import GenerationConfig
from sweetiechat.generate import generate_dialogues
from sweetiechat.io import read_dialogues
from sweetiechat.testing import OpenAITestServer

ray = pytest.importorskip("ray", reason="the ray extra is part of .[all]")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    yield ray
    ray.shutdown()


def config(url: str, **kw) -> GenerationConfig:
    return GenerationConfig.model_validate(
        {
            "defaults": {
                "backend": "openai",
                "base_url": url,
                "model": "test-model",
                "api_key_env": "",
                "timeout": 5.0,
                "wait_max": 0.05,
            },
            "counselor": {"kind": "prompted"},
            "max_seeker_turns": 2,
            "min_seeker_turns": 2,
            "concurrency": 2,
            "seed": 9,
            **kw,
        }
    )


def test_a_ray_run_gives_the_ids_of_a_single_process_run(local_ray, tmp_path):
    from sweetiechat.distributed import run_on_ray

    n = 8
    seen = []
    with OpenAITestServer() as server:
        single = tmp_path / "single.jsonl"
        generate_dialogues(n, single, config(server.base_url))
        out = tmp_path / "ray.jsonl"
        result = run_on_ray(
            n, out, config(server.base_url), shards=2, on_progress=seen.append, poll_s=0.1
        )
    ids = [d.id for d in read_dialogues(out)]
    assert ids == sorted(d.id for d in read_dialogues(single))
    assert result.merged is not None and result.merged.written == n
    assert result.state.written == n and not result.state.failures
    assert result.state.ledger.total.calls > 0
    assert len({r.pid for r in result.shards}) == 2  # two worker processes
    assert seen and seen[-1] == {"1/2": 4, "2/2": 4}
    assert all(p.exists() for p in result.outputs)


def test_a_ray_run_resumes_and_grows(local_ray, tmp_path):
    from sweetiechat.distributed import run_on_ray

    out = tmp_path / "grow.jsonl"
    with OpenAITestServer() as server:
        first = run_on_ray(4, out, config(server.base_url), shards=2, poll_s=0.1)
        again = run_on_ray(6, out, config(server.base_url), shards=2, resume=True, poll_s=0.1)
    assert first.state.written == 4
    assert again.state.skipped == 4 and again.state.written == 2
    assert all(r.attempt == 1 for r in again.shards)  # no worker died, none reported
    assert again.state.turns_per_s < 1000  # counted over the run, not after it
    assert [d.id for d in read_dialogues(out)] == [f"sc9-{i:06d}" for i in range(6)]


def _shard_workers() -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in out.splitlines() if "ray::_run_shard" in line]


def test_a_worker_that_dies_is_retried_and_its_shard_resumes(local_ray, tmp_path):
    from sweetiechat.distributed import run_on_ray, shard_output
    from sweetiechat.shards import Shard

    n = 12
    out = tmp_path / "ray.jsonl"
    outputs = [shard_output(out, Shard(k, 2)) for k in (1, 2)]
    killed: list[int] = []

    def written(path: Path) -> int:
        return path.read_text().count("\n") if path.exists() else 0

    def killer() -> None:  # kill a busy shard worker once every shard has written 2 dialogues
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            if all(written(path) >= 2 for path in outputs):
                for pid in _shard_workers()[:1]:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            time.sleep(0.05)

    with OpenAITestServer(latency=0.05) as server:
        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        result = run_on_ray(n, out, config(server.base_url), shards=2, poll_s=0.1)
        thread.join(timeout=5)
    assert killed, "no shard worker was found to kill"
    assert max(r.attempt for r in result.shards) >= 2  # Ray reran the dead worker's task
    retried = next(r for r in result.shards if r.attempt >= 2)
    assert retried.skipped >= 2  # it resumed from what it had written
    assert [d.id for d in read_dialogues(out)] == [f"sc9-{i:06d}" for i in range(n)]


def test_ray_errors_are_one_line(tmp_path):
    env = {**os.environ, "OPENAI_API_KEY": "sk-dummy"}
    with OpenAITestServer() as server:
        r = subprocess.run(
            [sys.executable, "-m", "sweetiechat", "generate", "-n", "2", "-o",
             str(tmp_path / "x.jsonl"), "--backend", "openai", "--base-url", server.base_url,
             "--model", "m", "--ray", "--address", "127.0.0.1:1"],
            capture_output=True, text=True, timeout=120, env=env,
        )  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert "cannot start or reach Ray at 127.0.0.1:1" in r.stderr
    assert "Traceback" not in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "sweetiechat", "generate", "-n", "2", "-o",
         str(tmp_path / "x.jsonl"), "--shards", "2"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2 and "--ray" in r.stderr
