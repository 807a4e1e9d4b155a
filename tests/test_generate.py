"""Generation at scale against a real OpenAI-compatible server on 127.0.0.1."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import warnings

import pytest

from sweetiechat.config import GenerationConfig, load_config
from sweetiechat.errors import ConfigError
from sweetiechat.generate import dialogue_id, generate_dialogues, run_folder
from sweetiechat.io import read_dialogues
from sweetiechat.testing import FaultConfig, OpenAITestServer


def server_config(url: str, **kw) -> GenerationConfig:
    base = {
        "defaults": {
            "backend": "openai",
            "base_url": url,
            "model": "test-model",
            "api_key_env": "",
            "timeout": 0.5,
            "attempts": 8,
            "wait_max": 0.05,
        },
        "counselor": {"kind": "prompted"},
        "max_seeker_turns": 4,
        "min_seeker_turns": 2,
    }
    base.update(kw)
    return GenerationConfig.model_validate(base)


def strict_read(path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a torn line would be a TornLineWarning
        return list(read_dialogues(path))


def test_twenty_percent_faults_still_give_exactly_n_valid_dialogues(tmp_path):
    out = tmp_path / "faulty.jsonl"
    faults = FaultConfig(rate=0.2, hang_s=1.5, retry_after=0.01, seed=11)
    with OpenAITestServer(faults=faults) as server:
        state = generate_dialogues(50, out, server_config(server.base_url, concurrency=25))
        injected = dict(server.injected)
    dialogues = strict_read(out)
    assert len(dialogues) == 50
    assert {d.id for d in dialogues} == {dialogue_id(0, i) for i in range(50)}
    assert all(d.alternates and len(d.turns) >= 3 for d in dialogues)
    assert all(t.strategy for d in dialogues for t in d.turns if t.role == "supporter")
    assert set(injected) == set(FaultConfig().kinds)  # every kind of fault happened
    assert state.written == 50 and not state.failures
    assert state.ledger.retries > 0
    assert state.counselor_fallbacks == sum(d.meta.counselor_fallbacks for d in dialogues)
    assert sum(d.meta.usage.calls for d in dialogues) > 0


def test_pools_are_saved_grow_and_dialogues_carry_provenance(tmp_path, esconv_small):
    out = tmp_path / "run.jsonl"
    with OpenAITestServer() as server:
        cfg = server_config(server.base_url, seed=5, seed_dialogues=str(esconv_small))
        state = generate_dialogues(4, out, cfg)
    folder = run_folder(out)
    scenarios = (folder / "pool_scenarios.jsonl").read_text().splitlines()
    profiles = (folder / "pool_profiles.jsonl").read_text().splitlines()
    assert len(scenarios) == 3 + 4  # ESConv fixture seeds + self-iteration
    assert len(profiles) >= 45 + 4  # built-in profiles + one per dialogue
    assert json.loads((folder / "run.json").read_text())["seed"] == 5
    d = strict_read(out)[0]
    assert d.id.startswith("sc5-") and d.meta.seed == 5 and d.meta.index is not None
    assert d.scenario and d.profile
    assert set(d.meta.models) >= {"seeker", "supporter", "counselor", "scenario_writer"}
    assert d.meta.usage.prompt_tokens > 0 and d.meta.timings["total"] > 0
    assert state.ledger.total.calls == sum(x.meta.usage.calls for x in strict_read(out))


def test_resume_skips_written_ids_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / "r.jsonl"
    with OpenAITestServer() as server:
        cfg = server_config(server.base_url)
        generate_dialogues(3, out, cfg)
        first = out.read_text()
        with pytest.raises(ConfigError, match="--resume"):
            generate_dialogues(5, out, cfg)
        state = generate_dialogues(5, out, cfg, resume=True)
        with pytest.raises(ConfigError, match="--seed 0"):
            generate_dialogues(6, out, server_config(server.base_url, seed=9), resume=True)
    assert out.read_text().startswith(first)
    assert state.skipped == 3 and state.written == 2
    assert {d.id for d in strict_read(out)[:3]} == {dialogue_id(0, i) for i in range(3)}
    assert len({d.id for d in strict_read(out)}) == 5


def cli(*args, env=None, **kw):
    return subprocess.Popen(
        [sys.executable, "-m", "sweetiechat", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OPENAI_API_KEY": "sk-dummy", **(env or {})},
        **kw,
    )


def wait_for_lines(path, count, proc, timeout=240.0):  # a loaded machine loads models slowly
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= count:
            return
        if proc.poll() is not None:
            raise AssertionError(f"generator exited early: {proc.communicate()}")
        time.sleep(0.05)
    raise AssertionError("generator wrote too little in time")


def server_args(server, out, n):
    return [
        "generate",
        "-n",
        str(n),
        "-o",
        str(out),
        "--backend",
        "openai",
        "--base-url",
        server.base_url,
        "--model",
        "test-model",
        "--concurrency",
        "3",
        "--max-turns",
        "3",
        "--min-turns",
        "2",
    ]


def test_sigkill_mid_run_then_resume_gives_exactly_n(tmp_path):
    out = tmp_path / "killed.jsonl"
    with OpenAITestServer(latency=0.02) as server:
        proc = cli(*server_args(server, out, 24))
        wait_for_lines(out, 4, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert len(strict_read(out)) < 24
        resumed = cli(*server_args(server, out, 24), "--resume")
        stdout, stderr = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, stderr
    dialogues = strict_read(out)
    assert len(dialogues) == 24
    assert {d.id for d in dialogues} == {dialogue_id(0, i) for i in range(24)}


def test_sigint_stops_cleanly_with_a_summary(tmp_path):
    out = tmp_path / "interrupted.jsonl"
    with OpenAITestServer(latency=0.05) as server:
        proc = cli(*server_args(server, out, 200))
        wait_for_lines(out, 2, proc)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in stderr
    assert "Generation summary" in stdout and "stopped early (Ctrl-C)" in stdout
    written = strict_read(out)
    assert 2 <= len(written) < 200
    assert out.read_bytes().endswith(b"\n")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "args, env, expect",
    [
        (["--config", "{cfg_bad}"], {}, "cannot parse"),
        (["--config", "{cfg_unknown}"], {}, "temprature"),
        (["--problem-type", "Space Travel"], {}, "unknown problem type 'Space Travel'"),
        (
            ["--backend", "openai", "--model", "gpt-4o-mini"],
            {"OPENAI_API_KEY": ""},
            "environment variable OPENAI_API_KEY is not set",
        ),
        (
            ["--backend", "openai", "--model", "m", "--base-url", "http://127.0.0.1:{port}/v1"],
            {},
            "cannot reach http://127.0.0.1:",
        ),
        (["--counselor", "oracle"], {}, "--counselor"),
    ],
)
def test_bad_settings_fail_before_any_work(tmp_path, args, env, expect):
    (tmp_path / "bad.toml").write_text("concurrency = [\n")
    (tmp_path / "unknown.toml").write_text("[defaults]\ntemprature = 0.3\n")
    args = [
        a.format(
            cfg_bad=tmp_path / "bad.toml", cfg_unknown=tmp_path / "unknown.toml", port=_free_port()
        )
        for a in args
    ]
    out = tmp_path / "never.jsonl"
    proc = cli("generate", "-n", "2", "-o", str(out), *args, env=env)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2, (stdout, stderr)
    assert expect in stderr
    assert "Traceback" not in stderr
    assert not out.exists()


def test_config_file_sets_roles_and_flags_override(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "concurrency: 2\ndefaults:\n  backend: openai\n  model: gpt-4o-mini\n"
        "roles:\n  seeker:\n    model: seeker-model\n    temperature: 1.0\n"
        "counselor:\n  kind: served\n  base_url: http://127.0.0.1:9/v1\n  model: counselor\n"
    )
    cfg = load_config(path, concurrency=8)
    assert cfg.concurrency == 8
    assert cfg.role("seeker").model == "seeker-model" and cfg.role("seeker").temperature == 1.0
    assert cfg.role("supporter").model == "gpt-4o-mini"
    c = cfg.counselor_config()
    assert (c.kind, c.model, c.backend) == ("served", "counselor", "openai")
    assert "sk-" not in json.dumps(cfg.signature())


def test_api_key_never_reaches_outputs_logs_or_metadata(tmp_path):
    secret = "sk-very-secret-key-123"
    out = tmp_path / "s.jsonl"
    with OpenAITestServer() as server:
        proc = cli(*server_args(server, out, 2), "--show", "1", env={"OPENAI_API_KEY": secret})
        stdout, stderr = proc.communicate(timeout=120)
        bodies = json.dumps(server.requests)
    assert proc.returncode == 0, stderr
    files = [out, *run_folder(out).iterdir()]
    assert all(secret not in f.read_text() for f in files)
    assert secret not in stdout and secret not in stderr and secret not in bodies


def test_a_rejected_key_stops_the_run_at_once_without_leaking_it(tmp_path, monkeypatch):
    from sweetiechat.generate import RunAborted

    secret = "sk-proj-abcdefghijklmnop"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    with OpenAITestServer(api_key="sk-the-right-one") as server:
        cfg = server_config(server.base_url, concurrency=2)
        cfg = cfg.model_copy(
            update={"defaults": cfg.defaults.model_copy(update={"api_key_env": "OPENAI_API_KEY"})}
        )
        with pytest.raises(RunAborted) as info:
            generate_dialogues(20, tmp_path / "x.jsonl", cfg)
        rejected = server.shared.rejected
    assert "401" in str(info.value) and "--resume" in str(info.value)
    assert secret not in str(info.value) and "[redacted]" in str(info.value)
    assert 1 <= rejected <= 2  # stopped at once, not 20 dialogues × 3 attempts


def test_default_counselor_follows_the_backend():
    assert GenerationConfig().counselor_config().kind == "likelihood"
    served = GenerationConfig.model_validate({"defaults": {"backend": "openai", "model": "m"}})
    assert served.counselor_config().kind == "prompted"
    explicit = GenerationConfig.model_validate(
        {"defaults": {"backend": "openai", "model": "m"}, "counselor": {"kind": "none"}}
    )
    assert explicit.counselor_config().kind == "none"


def test_no_counselor_run_records_the_supporters_own_strategies(tmp_path):
    out = tmp_path / "free.jsonl"
    with OpenAITestServer() as server:
        cfg = server_config(server.base_url, counselor={"kind": "none"})
        state = generate_dialogues(3, out, cfg)
    dialogues = strict_read(out)
    assert state.written == 3 and state.counselor_fallbacks == 0
    assert all(d.meta.models["counselor"].startswith("none") for d in dialogues)
    assert all(t.strategy for d in dialogues for t in d.turns if t.role == "supporter")


def test_run_settings_never_hold_secrets_from_provider_kwargs():
    cfg = GenerationConfig.model_validate(
        {
            "roles": {
                "seeker": {
                    "backend": "langchain",
                    "provider": "m:C",
                    "provider_kwargs": {"api_key": "sk-oops", "model": "x"},
                }
            }
        }
    )
    signature = json.dumps(cfg.signature())
    assert "sk-oops" not in signature and "[redacted]" in signature
    assert '"api_key_env": "OPENAI_API_KEY"' in signature and '"model": "x"' in signature


def test_two_runs_in_one_process_share_nothing_stale(tmp_path):
    # langchain-openai's default HTTP client is bound to the first event loop; each run
    # must bring its own, or the second run fails with "Event loop is closed".
    with OpenAITestServer() as server:
        cfg = server_config(server.base_url, concurrency=1, dialogue_attempts=1)
        first = generate_dialogues(2, tmp_path / "a.jsonl", cfg)
        second = generate_dialogues(2, tmp_path / "b.jsonl", cfg)
    assert first.written == second.written == 2
    assert not first.failures and not second.failures


def test_progress_counts_utterances_while_dialogues_run(tmp_path):
    import asyncio

    from sweetiechat.generate import RunState, agenerate_dialogues

    state = RunState(requested=2)
    seen: list[tuple[int, int]] = []

    async def run(url):
        async def watch():
            while True:
                seen.append((state.live_turns, state.written))
                await asyncio.sleep(0.01)

        watcher = asyncio.create_task(watch())
        config = server_config(url, concurrency=2, max_seeker_turns=2, min_seeker_turns=2)
        await agenerate_dialogues(2, tmp_path / "out.jsonl", config, state=state)
        watcher.cancel()

    with OpenAITestServer(latency=0.05) as server:
        asyncio.run(run(server.base_url))
    assert state.live_turns == state.turns == 6
    assert any(live > 0 and written == 0 for live, written in seen)  # before any dialogue ends
    assert state.last_utterance.startswith("Seeker: ")
