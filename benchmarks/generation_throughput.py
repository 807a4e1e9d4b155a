"""Generation throughput: dialogues per minute against a 500 ms-latency OpenAI-compatible
server at concurrency 1, 16 and 64, side by side with the ideal (concurrency / latency), and
the embedded SmolLM2 model at concurrency 1 and 8. Writes docs/performance.md.

    python benchmarks/generation_throughput.py [--quick] [--no-embedded]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _report import machine, update_section

from sweetiechat.config import GenerationConfig
from sweetiechat.generate import generate_dialogues

LATENCY = 0.5
TURNS = 3  # seeker turns per dialogue, fixed (min = max) so every dialogue costs the same


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


def server_run(server: ServerProcess, concurrency: int, n: int, folder: Path) -> dict:
    config = GenerationConfig.model_validate(
        {
            "defaults": {
                "backend": "openai",
                "base_url": server.base_url,
                "model": "bench",
                "api_key_env": "",
                "timeout": 30,
            },
            "counselor": {"kind": "prompted"},
            "concurrency": concurrency,
            "max_seeker_turns": TURNS,
            "min_seeker_turns": TURNS,
        }
    )
    before = server.calls()
    start = time.perf_counter()
    state = generate_dialogues(n, folder / f"c{concurrency}.jsonl", config)
    wall = time.perf_counter() - start
    calls = (server.calls() - before) / max(state.written, 1)
    measured = state.written / wall * 60
    ideal = concurrency * 60 / (calls * LATENCY)
    return {
        "concurrency": concurrency,
        "dialogues": state.written,
        "wall": wall,
        "calls": calls,
        "measured": measured,
        "ideal": ideal,
    }


def embedded_run(concurrency: int, n: int, folder: Path) -> dict:
    config = GenerationConfig(
        concurrency=concurrency, max_seeker_turns=TURNS, min_seeker_turns=TURNS
    )
    start = time.perf_counter()
    state = generate_dialogues(n, folder / f"e{concurrency}.jsonl", config)
    wall = time.perf_counter() - start
    return {
        "concurrency": concurrency,
        "dialogues": state.written,
        "wall": wall,
        "measured": state.written / wall * 60,
        "tokens": state.ledger.total.completion_tokens,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer dialogues per setting")
    parser.add_argument("--no-embedded", action="store_true", help="skip the embedded model")
    args = parser.parse_args()
    rounds = 1 if args.quick else 2
    folder = Path(tempfile.mkdtemp(prefix="sweetiechat-bench-"))
    rows = []
    server = ServerProcess(LATENCY)
    try:
        server_run(server, 4, 4, folder / "warmup")  # imports, connection pools
        for c in (1, 16, 64):
            rows.append(server_run(server, c, max(2, rounds * c), folder))
            r = rows[-1]
            print(
                f"concurrency {c:>2}: {r['measured']:8.1f} dialogues/min "
                f"(ideal {r['ideal']:8.1f}, {100 * r['measured'] / r['ideal']:.1f}%)"
            )
    finally:
        server.stop()
    sequential = rows[0]["measured"]
    lines = [
        "## Generation throughput (`benchmarks/generation_throughput.py`)",
        "",
        f"Measured on {machine()}. The OpenAI-compatible test server, in its own process on "
        "127.0.0.1 (`python -m sweetiechat.testing`), answers every request "
        f"after {int(LATENCY * 1000)} ms; each dialogue has {TURNS} seeker turns "
        f"({rows[0]['calls']:.0f} model calls: scenario, profile, seeker, prompted counselor, "
        "supporter). Ideal = concurrency × 60 s / (calls per dialogue × latency).",
        "",
        "| concurrency | dialogues | wall (s) | dialogues/min | ideal | % of ideal "
        "| × sequential |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['concurrency']} | {r['dialogues']} | {r['wall']:.1f} | {r['measured']:.1f} | "
            f"{r['ideal']:.1f} | {100 * r['measured'] / r['ideal']:.1f}% | "
            f"{r['measured'] / sequential:.1f}× |"
        )
    if not args.no_embedded:
        erows = []
        for c in (1, 8):
            erows.append(embedded_run(c, 2 if c == 1 else 8, folder))
            e = erows[-1]
            print(f"embedded concurrency {c}: {e['measured']:.2f} dialogues/min")
        lines += [
            "",
            f"Embedded SmolLM2-135M (CPU, this machine), {TURNS} seeker turns, likelihood "
            "counselor; concurrent dialogues share one model and are batched:",
            "",
            "| concurrency | dialogues | wall (s) | dialogues/min | generated tokens/s | × c=1 |",
            "|---|---|---|---|---|---|",
        ]
        for e in erows:
            lines.append(
                f"| {e['concurrency']} | {e['dialogues']} | {e['wall']:.1f} | "
                f"{e['measured']:.2f} | {e['tokens'] / e['wall']:.1f} | "
                f"{e['measured'] / erows[0]['measured']:.2f}× |"
            )
    update_section("generation", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
