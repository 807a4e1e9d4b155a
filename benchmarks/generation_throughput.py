"""Generation throughput, side by side in one run: dialogues per minute against a 500 ms-latency
OpenAI-compatible server at concurrency 1, 16, 64 and 256, through both clients (langchain-openai
and the direct httpx client), with the ideal and the client's CPU milliseconds per model call;
and the embedded SmolLM2 model at concurrency 1, 8 and 16 (with the speed-up over
concurrency 1 by wall and by CPU time, CPU seconds per dialogue, rows and milliseconds per
decoding step, the prefill share of model time, and the prompt tokens reused from the prefix
cache). Every
setting is measured ``--runs`` times; the tables give the median and the spread (min–max).
Writes docs/performance.md.

    python benchmarks/generation_throughput.py [--runs 2] [--no-embedded] [--no-api]
        [--clients langchain,direct] [--embedded-turns 3] [--baseline-dialogues 3]
        [--per-slot 2]

Each embedded level above concurrency 1 generates ``--per-slot`` × concurrency dialogues (2 by
default, as the API path always does), so that a run measures the steady state a generation
job spends most of its time in, not only its start (every dialogue wants its first prompt at
once) and its end (the last dialogues finish alone).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _report import machine, update_section

from sweetiechat.config import GenerationConfig
from sweetiechat.generate import generate_dialogues

LATENCY = 0.5
TURNS = 3  # seeker turns per dialogue, fixed (min = max) so every dialogue costs the same
API_LEVELS = (1, 16, 64, 256)
EMBEDDED_LEVELS = (1, 8, 16)


class ServerProcess:
    """The test server in its own process, as a real server would be (no shared GIL)."""

    def __init__(self, latency: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sweetiechat.testing", "--latency", str(latency)],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.base_url = self.proc.stdout.readline().strip()  # type: ignore[union-attr]

    def calls(self) -> int:
        import httpx

        return int(httpx.get(self.base_url + "/stats").json()["calls"])

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()

    def kill(self) -> None:
        """Die as a crashed server does (SIGKILL), for failover measurements."""
        self.proc.kill()
        self.proc.wait()


def server_run(
    server: ServerProcess, concurrency: int, n: int, folder: Path, client: str = "langchain"
) -> dict:
    """One API run; client CPU is this process's CPU time (the server runs in its own)."""
    config = GenerationConfig.model_validate(
        {
            "defaults": {
                "backend": "openai",
                "client": client,
                "base_url": server.base_url,
                "model": "bench",
                "api_key_env": "",
                "timeout": 60,
            },
            "counselor": {"kind": "prompted"},
            "concurrency": concurrency,
            "max_seeker_turns": TURNS,
            "min_seeker_turns": TURNS,
        }
    )
    before = server.calls()
    cpu0, start = time.process_time(), time.perf_counter()
    state = generate_dialogues(n, folder / f"c{concurrency}-{time.time_ns()}.jsonl", config)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    calls = server.calls() - before
    per_dialogue = calls / max(state.written, 1)
    measured = state.written / wall * 60
    ideal = concurrency * 60 / (per_dialogue * LATENCY)
    return {
        "concurrency": concurrency,
        "client": client,
        "dialogues": state.written,
        "wall": wall,
        "calls": per_dialogue,
        "measured": measured,
        "ideal": ideal,
        "pct": 100 * measured / ideal,
        "cpu_ms": 1000 * cpu / max(calls, 1),
    }


def embedded_run(concurrency: int, n: int, folder: Path, turns: int = TURNS) -> dict:
    """One embedded run, from an empty prefix cache (each run reuses only its own prompts).
    Rows per step, prefill/decode time and reuse come from the model's continuous batcher
    and its prefix cache."""
    from sweetiechat.backends import local

    lm = local.load_causal_lm()
    assert lm.prefix is not None
    lm.prefix.clear()
    fields = ("steps", "rows_decoded", "prefill_tokens", "reused_tokens", "prefill_s", "decode_s")

    def counters() -> dict[int, tuple[float, ...]]:
        return {
            id(e.batcher): tuple(getattr(e.batcher, f) for f in fields)
            for e in local._ENGINES.values()
        }

    before = counters()
    prompt0, reused0 = lm.prefix.prompt_tokens, lm.prefix.reused_tokens
    config = GenerationConfig(
        concurrency=concurrency, max_seeker_turns=turns, min_seeker_turns=turns
    )
    cpu0, start = time.process_time(), time.perf_counter()
    state = generate_dialogues(n, folder / f"e{concurrency}-{time.time_ns()}.jsonl", config)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    totals = dict.fromkeys(fields, 0.0)
    for key, values in counters().items():
        old = before.get(key, (0,) * len(fields))
        for f, new, was in zip(fields, values, old, strict=True):
            totals[f] += new - was
    prompt = lm.prefix.prompt_tokens - prompt0
    batch_time = totals["prefill_s"] + totals["decode_s"]
    return {
        "concurrency": concurrency,
        "dialogues": state.written,
        "wall": wall,
        "measured": state.written / wall * 60,
        "tokens": state.ledger.total.completion_tokens,
        "cpu_per_dialogue": cpu / max(state.written, 1),
        "rows_per_step": totals["rows_decoded"] / max(totals["steps"], 1),
        "prefill_pct": 100 * totals["prefill_s"] / max(batch_time, 1e-9),
        "reused_pct": 100 * (lm.prefix.reused_tokens - reused0) / max(prompt, 1),
        "prefilled_per_dialogue": (prompt - (lm.prefix.reused_tokens - reused0))
        / max(state.written, 1),
        "ms_per_step": 1000 * totals["decode_s"] / max(totals["steps"], 1),
    }


def _spread(values: list[float], fmt: str) -> str:
    """Median, with min–max when there is more than one run."""
    med = format(statistics.median(values), fmt)
    if len(values) < 2:
        return med
    return f"{med} ({format(min(values), fmt)}–{format(max(values), fmt)})"


def _repeat(runs: int, levels: tuple[int, ...], one: Callable[[int], dict]) -> dict[int, list]:
    """``runs`` rounds over all levels (interleaved, so a load change hits every level)."""
    results: dict[int, list[dict]] = {c: [] for c in levels}
    for round_ in range(runs):
        for c in levels:
            r = one(c)
            results[c].append(r)
            print(f"run {round_ + 1}: {r}", flush=True)
    return results


def api_section(runs: int, folder: Path, clients: tuple[str, ...]) -> list[str]:
    server = ServerProcess(LATENCY)
    try:
        for client in clients:
            server_run(server, 4, 4, folder, client)  # imports, connection pools
        results = _repeat(
            runs,
            API_LEVELS,
            lambda c: {k: server_run(server, c, max(2, 2 * c), folder, k) for k in clients},
        )
    finally:
        server.stop()
    calls = results[1][0][clients[0]]["calls"]
    lines = [
        f"The OpenAI-compatible test server, in its own process on 127.0.0.1 "
        f"(`python -m sweetiechat.testing`), answers every request after "
        f"{int(LATENCY * 1000)} ms; each dialogue has {TURNS} seeker turns ({calls:.0f} model "
        "calls: scenario, profile, seeker, prompted counselor, supporter and its crisis guard) "
        "and 2 × concurrency dialogues are generated, through each client in turn at every "
        "level of every round. Ideal = concurrency × 60 s / (calls per dialogue × latency). "
        "Client CPU = this process's CPU time / model calls (the server's CPU not counted): it "
        "is what limits the high concurrencies on 2 cores, and it compares across machines. "
        '`langchain` is `ChatOpenAI` (the default, `client = "langchain"`); `direct` is '
        '`client = "direct"` (sweetiechat.backends.http).',
        "",
        "| concurrency | client | dialogues | dialogues/min | ideal | % of ideal "
        "| client CPU ms/call | × langchain |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c, rounds in results.items():
        base = [r[clients[0]]["measured"] for r in rounds]
        for k in clients:
            rs = [r[k] for r in rounds]
            lines.append(
                f"| {c} | {k} | {rs[0]['dialogues']} | "
                f"{_spread([r['measured'] for r in rs], '.1f')} | "
                f"{statistics.median(r['ideal'] for r in rs):.1f} | "
                f"{_spread([r['pct'] for r in rs], '.1f')}% | "
                f"{_spread([r['cpu_ms'] for r in rs], '.2f')} | "
                f"{_spread([r['measured'] / b for r, b in zip(rs, base, strict=True)], '.2f')}× |"
            )
    return lines


def embedded_section(
    runs: int, folder: Path, turns: int = TURNS, baseline: int = 3, per_slot: int = 2
) -> list[str]:
    from sweetiechat.backends import threads

    sizes = {c: baseline if c == 1 else per_slot * c for c in EMBEDDED_LEVELS}
    results = _repeat(runs, EMBEDDED_LEVELS, lambda c: embedded_run(c, sizes[c], folder, turns))
    base = [r["measured"] for r in results[1]]
    base_cpu = [r["cpu_per_dialogue"] for r in results[1]]
    base_tokens = [r["tokens"] / r["wall"] for r in results[1]]
    how = (
        f"prompts prefilled in a thread beside the decoding one, {threads.worker_threads()} each"
        if threads.overlap_default()
        else "prompts prefilled between decoding steps"
    )
    lines = [
        f"Embedded SmolLM2-135M (CPU, float32, {threads.base_threads()} torch thread(s): {how}), "
        f"{turns} seeker turns, likelihood counselor; "
        f"{', '.join(str(sizes[c]) for c in EMBEDDED_LEVELS)} dialogues at concurrency "
        f"{', '.join(str(c) for c in EMBEDDED_LEVELS)} ({per_slot} per slot beyond concurrency "
        "1), each run from an empty prefix cache. Concurrent dialogues "
        "share one continuous batch: requests join between decoding steps and leave when "
        "done. × c=1 is the ratio to concurrency 1 in the same round, by wall time "
        "(dialogues/min) and by CPU time (CPU s/dialogue of c=1 / this row's); tokens/s counts "
        "the generated tokens (dialogue lengths vary with sampling; this ratio does not "
        "depend on them). Rows/step = "
        "mean rows per decoding step, ms/step its time. Prefill % = the time spent prefilling "
        "prompts over that plus the decoding time (in two threads, they overlap). Reused = "
        "prompt tokens (every model call, the counselor's scoring included) whose keys/values "
        "came from the prefix cache; prefilled/dialogue = prompt tokens still run through the "
        "model.",
        "",
        "| concurrency | dialogues | dialogues/min | × c=1 | tokens/s | × c=1 | CPU s/dialogue "
        "| CPU × c=1 | rows/step | ms/step | prefill % | reused | prefilled/dialogue |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c, rs in results.items():
        ratio = [r["measured"] / b for r, b in zip(rs, base, strict=True)]
        cpu_ratio = [b / r["cpu_per_dialogue"] for r, b in zip(rs, base_cpu, strict=True)]
        rate = [r["tokens"] / r["wall"] for r in rs]
        rate_ratio = [t / b for t, b in zip(rate, base_tokens, strict=True)]
        lines.append(
            f"| {c} | {rs[0]['dialogues']} | {_spread([r['measured'] for r in rs], '.2f')} | "
            f"{_spread(ratio, '.2f')}× | {_spread(rate, '.1f')} | "
            f"{_spread(rate_ratio, '.2f')}× | "
            f"{_spread([r['cpu_per_dialogue'] for r in rs], '.1f')} | "
            f"{_spread(cpu_ratio, '.2f')}× | "
            f"{_spread([r['rows_per_step'] for r in rs], '.1f')} | "
            f"{_spread([r['ms_per_step'] for r in rs], '.0f')} | "
            f"{_spread([r['prefill_pct'] for r in rs], '.0f')}% | "
            f"{_spread([r['reused_pct'] for r in rs], '.0f')}% | "
            f"{_spread([r['prefilled_per_dialogue'] for r in rs], '.0f')} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2, help="rounds over every setting")
    parser.add_argument("--no-embedded", action="store_true", help="skip the embedded model")
    parser.add_argument("--no-api", action="store_true", help="skip the API path")
    parser.add_argument(
        "--embedded-turns", type=int, default=TURNS, help="seeker turns per embedded dialogue"
    )
    parser.add_argument(
        "--baseline-dialogues", type=int, default=3, help="embedded dialogues at concurrency 1"
    )
    parser.add_argument(
        "--per-slot",
        type=int,
        default=2,
        help="embedded dialogues per unit of concurrency above 1 (the API path always uses 2)",
    )
    parser.add_argument(
        "--clients", default="langchain,direct", help="API clients to compare, comma-separated"
    )
    parser.add_argument("--note", default="", help="a sentence on the machine's load")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="sweetiechat-bench-"))
    head = (
        f"Measured on {machine()}, {args.runs} rounds; each cell is the median with the "
        f"spread (min–max) over the rounds. {args.note}"
    ).strip()
    if not args.no_api:
        api = api_section(args.runs, folder, tuple(args.clients.split(",")))
        update_section("generation-api", "\n".join([head, "", *api]))
        print("\n".join(api))
    if not args.no_embedded:
        embedded = embedded_section(
            args.runs, folder, args.embedded_turns, args.baseline_dialogues, args.per_slot
        )
        update_section("generation-embedded", "\n".join([head, "", *embedded]))
        print("\n".join(embedded))


if __name__ == "__main__":
    main()
