"""Client CPU per model call, side by side: ChatOpenAI (langchain-openai + the openai SDK)
against sweetiechat's direct httpx client, on the same requests to the same server.

The test server runs in its own process with no latency, so the figure is the client's own
work per call (building the request, sending, parsing, bookkeeping), measured as this
process's CPU time over the calls. It is machine-dependent only through the CPU's speed, and
a busy machine hardly blurs it (CPU time, not wall time). Each client is run ``--runs`` times,
alternating; the table gives the median and the spread.

    python benchmarks/client_cpu.py [--calls 2000] [--concurrency 64] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _report import machine, update_section
from generation_throughput import ServerProcess

from sweetiechat.backends import ChatBackend, LangChainBackend, Metered, Retrying, UsageLedger

MESSAGES = [
    ("system", "You are role-playing a person who is seeking emotional support. " * 8),
    ("user", "Write your next message to the supporter, in one or two sentences."),
]


def _backend(kind: str, base_url: str, client: object) -> ChatBackend:
    if kind == "direct":
        from sweetiechat.backends.http import OpenAIHTTPBackend

        inner: ChatBackend = OpenAIHTTPBackend(
            client,  # type: ignore[arg-type]
            base_url=base_url,
            model="bench",
            temperature=0.7,
            max_tokens=150,
        )
    else:
        from langchain_openai import ChatOpenAI
        from pydantic import SecretStr

        inner = LangChainBackend(
            ChatOpenAI(
                http_async_client=client,
                model="bench",
                base_url=base_url,
                api_key=SecretStr("none"),
                temperature=0.7,
                max_completion_tokens=150,
                max_retries=0,
            )
        )
    return Metered(Retrying(inner, attempts=3), UsageLedger())  # as the factory wraps it


async def _run(kind: str, base_url: str, calls: int, concurrency: int) -> float:
    """CPU milliseconds per call for ``calls`` calls at ``concurrency``."""
    if kind == "direct":
        from sweetiechat.backends.http import http_client

        client = http_client(60)
    else:
        from openai import DefaultAsyncHttpxClient

        client = DefaultAsyncHttpxClient(timeout=60)
    backend = _backend(kind, base_url, client)
    await backend.acomplete(MESSAGES)  # connections, imports
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            await backend.acomplete(MESSAGES)

    cpu0 = time.process_time()
    await asyncio.gather(*(one() for _ in range(calls)))
    cpu = time.process_time() - cpu0
    await client.aclose()  # type: ignore[attr-defined]
    return 1000 * cpu / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    server = ServerProcess(0.0)
    results: dict[str, list[float]] = {"langchain": [], "direct": []}
    try:
        for round_ in range(args.runs):
            for kind in results:
                ms = asyncio.run(_run(kind, server.base_url, args.calls, args.concurrency))
                results[kind].append(ms)
                print(f"round {round_ + 1}: {kind} {ms:.2f} CPU ms/call", flush=True)
    finally:
        server.stop()

    def spread(v: list[float]) -> str:
        return f"{statistics.median(v):.2f} ({min(v):.2f}–{max(v):.2f})"

    ratios = [a / b for a, b in zip(results["langchain"], results["direct"], strict=True)]
    lines = [
        f"Measured on {machine()}: {args.calls} calls at concurrency {args.concurrency} per "
        f"run, {args.runs} runs per client, alternating; median (min–max). The test server "
        "answers at once in its own process; each backend is wrapped as the factory wraps it "
        "(`Metered(Retrying(...))`).",
        "",
        "| client | client CPU ms/call | langchain ÷ direct |",
        "|---|---|---|",
        f"| langchain (`ChatOpenAI`) | {spread(results['langchain'])} | |",
        f'| direct (`client = "direct"`) | {spread(results["direct"])} | {spread(ratios)}× |',
    ]
    update_section("client-cpu", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
