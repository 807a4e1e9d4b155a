"""Resume by identity: a rerun continues only the run it belongs to, and run settings keep
secrets out while keeping the settings themselves."""

import json
import os
import socket
import subprocess
import sys

import pytest

from sweetiechat.config import ROLES, GenerationConfig, signature_changes
from sweetiechat.errors import ConfigError
from sweetiechat.generate import generate_dialogues, run_folder
from sweetiechat.io import read_dialogues
from sweetiechat.testing import OpenAITestServer


def config(url: str, **kw) -> GenerationConfig:
    base = {
        "defaults": {
            "backend": "openai",
            "base_url": url,
            "model": "test-model",
            "api_key_env": "",
            "timeout": 2.0,
            "wait_max": 0.05,
        },
        "counselor": {"kind": "prompted"},
        "max_seeker_turns": 3,
        "min_seeker_turns": 2,
        "concurrency": 2,
    }
    for key, value in kw.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}  # type: ignore[dict-item]
        else:
            base[key] = value
    return GenerationConfig.model_validate(base)


@pytest.mark.parametrize(
    "change, named",
    [
        ({"defaults": {"model": "another-model"}}, "roles.seeker.model: 'test-model' -> "),
        ({"roles": {"seeker": {"temperature": 1.3}}}, "roles.seeker.temperature: 0.7 -> 1.3"),
        ({"counselor": {"kind": "none"}}, "counselor.kind: 'prompted' -> 'none'"),
        ({"problem_types": {"Burnout": 1.0}}, "problem_types"),
        ({"max_seeker_turns": 5}, "max_seeker_turns: 3 -> 5"),
    ],
)
def test_resume_with_other_data_settings_is_refused_and_nothing_is_written(tmp_path, change, named):
    out = tmp_path / "run.jsonl"
    with OpenAITestServer() as server:
        generate_dialogues(2, out, config(server.base_url))
        before = out.read_bytes()
        with pytest.raises(ConfigError) as info:
            generate_dialogues(4, out, config(server.base_url, **change), resume=True)
    message = str(info.value)
    assert named in message
    assert "cannot resume" in message and "another -o" in message
    assert out.read_bytes() == before


def test_resume_with_another_prompt_text_is_refused(tmp_path):
    out = tmp_path / "run.jsonl"
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    with OpenAITestServer() as server:
        generate_dialogues(2, out, config(server.base_url, prompts_dir=str(prompts)))
        (prompts / "seeker.txt").write_text("You are {profile}.\n---user---\n{history}\n")
        with pytest.raises(ConfigError, match=r"prompts\.seeker"):
            generate_dialogues(
                3, out, config(server.base_url, prompts_dir=str(prompts)), resume=True
            )


def test_resume_with_other_speed_settings_continues_the_run(tmp_path):
    out = tmp_path / "run.jsonl"
    with OpenAITestServer() as server:
        generate_dialogues(2, out, config(server.base_url))
        faster = config(
            server.base_url,
            concurrency=5,
            dialogue_attempts=5,
            defaults={"timeout": 9.0, "requests_per_minute": 6000, "attempts": 3},
        )
        state = generate_dialogues(4, out, faster, resume=True)
    ids = [d.id for d in read_dialogues(out)]
    assert state.skipped == 2 and state.written == 2
    assert sorted(ids) == [f"sc0-{i:06d}" for i in range(4)]
    recorded = json.loads((run_folder(out) / "run.json").read_text())
    assert recorded["data_signature"] == faster.data_signature()


def test_data_signature_resolves_roles_and_ignores_where_a_model_is_served():
    moved = GenerationConfig.model_validate(
        {"defaults": {"backend": "openai", "model": "m", "base_url": "http://a:1/v1"}}
    )
    same = GenerationConfig.model_validate(
        {
            "defaults": {"backend": "openai", "base_url": "http://b:2/v1", "model": "m"},
            "concurrency": 64,
            "prices": {"m": [1.0, 2.0]},
        }
    )
    assert signature_changes(moved.data_signature(), same.data_signature()) == []
    per_role = GenerationConfig.model_validate(
        {
            "defaults": {"backend": "openai", "model": "x"},
            "roles": {role: {"model": "m"} for role in ROLES},
            "counselor": {"model": "m"},
        }
    )
    assert signature_changes(moved.data_signature(), per_role.data_signature()) == []


def test_settings_are_recorded_and_only_secrets_are_redacted():
    cfg = GenerationConfig.model_validate(
        {
            "defaults": {"max_tokens": 99, "tokens_per_minute": 5000, "api_key_env": "MY_KEY"},
            "roles": {
                "seeker": {
                    "backend": "langchain",
                    "provider": "m:C",
                    "provider_kwargs": {
                        "api_key": "sk-a",
                        "access_token": "tok-b",
                        "client_secret": "c",
                        "password": "d",
                        "max_tokens": 7,
                        "top_k": 3,
                    },
                }
            },
        }
    )
    text = json.dumps(cfg.signature()) + json.dumps(cfg.data_signature())
    for secret in ("sk-a", "tok-b", '"c"', '"d"'):
        assert secret not in text
    record = cfg.signature()
    assert record["defaults"]["max_tokens"] == 99
    assert record["defaults"]["tokens_per_minute"] == 5000
    assert record["defaults"]["api_key_env"] == "MY_KEY"
    kwargs = record["roles"]["seeker"]["provider_kwargs"]
    assert kwargs["max_tokens"] == 7 and kwargs["top_k"] == 3
    assert kwargs["api_key"] == kwargs["access_token"] == "[redacted]"


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sweetiechat", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_resume_with_a_changed_model_says_what_differs(tmp_path):
    out = tmp_path / "run.jsonl"
    with OpenAITestServer() as server:
        common = ["generate", "-o", str(out), "--backend", "openai", "--base-url", server.base_url]
        env = {"OPENAI_API_KEY": "sk-dummy"}
        first = _cli(*common, "-n", "1", "--model", "a", "--max-turns", "2", "--min-turns", "2",
                     env=env)  # fmt: skip
        assert first.returncode == 0, first.stderr
        again = _cli(*common, "-n", "2", "--model", "b", "--max-turns", "2", "--min-turns", "2",
                     "--resume", env=env)  # fmt: skip
    assert again.returncode == 2
    assert "roles.seeker.model: 'a' -> 'b'" in again.stderr
    assert "Traceback" not in again.stderr


@pytest.mark.parametrize(
    "args, expect",
    [
        (["-n", "-1"], "at least 1"),
        (["-n", "0"], "at least 1"),
        (["-n", "2", "--problem-type", "Space Travel"], "error: unknown problem type"),
    ],
)
def test_cli_rejects_bad_counts_with_one_clear_line(tmp_path, args, expect):
    r = _cli("generate", "-o", str(tmp_path / "x.jsonl"), *args)
    assert r.returncode == 2
    assert expect in r.stderr
    assert "settings:" not in r.stderr and "config:" not in r.stderr  # no doubled prefix
    assert "Traceback" not in r.stderr and not (tmp_path / "x.jsonl").exists()


def test_the_default_openai_endpoint_is_checked_before_any_work(tmp_path):
    port = _free_port()
    r = _cli(
        "generate", "-n", "2", "-o", str(tmp_path / "x.jsonl"), "--backend", "openai",
        "--model", "gpt-4o-mini",
        env={"OPENAI_API_KEY": "sk-dummy", "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1"},
    )  # fmt: skip
    assert r.returncode == 2
    assert f"cannot reach http://127.0.0.1:{port}/v1" in r.stderr
    assert "default OpenAI endpoint" in r.stderr and "seeker" in r.stderr
    assert "sk-dummy" not in r.stderr


def test_the_crisis_locale_reaches_the_supporter_and_an_unknown_one_fails_early(tmp_path):
    from sweetiechat.factory import build_team, preflight

    cfg = GenerationConfig.model_validate(
        {
            "crisis_locale": "en-GB",
            "defaults": {
                "backend": "openai",
                "model": "m",
                "base_url": "http://x/v1",
                "api_key_env": "",
            },
        }
    )
    team = build_team(cfg)
    assert team.supporter.safety is not None
    assert team.supporter.safety.crisis_resources.emergency == "999"
    assert "crisis_locale" in cfg.data_signature()  # another locale is another run
    bad = cfg.model_copy(update={"crisis_locale": "xx-YY"})
    with pytest.raises(ConfigError, match="no crisis resources for locale 'xx-YY'"):
        preflight(bad)


def test_headers_and_url_credentials_never_reach_run_settings():
    cfg = GenerationConfig.model_validate(
        {
            "defaults": {"base_url": "https://user:hunter22@example.test/v1?api-key=abc123"},
            "roles": {
                "seeker": {
                    "backend": "langchain",
                    "provider": "m:C",
                    "provider_kwargs": {
                        "default_headers": {"Authorization": "Bearer tok", "x-api-key": "k9"},
                        "model": "visible-model",
                    },
                }
            },
        }
    )
    text = json.dumps(cfg.signature()) + json.dumps(cfg.data_signature())
    for secret in ("hunter22", "abc123", "Bearer tok", '"k9"'):
        assert secret not in text
    assert "visible-model" in text and "example.test" in text
