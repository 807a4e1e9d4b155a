"""Past one process: one client process against two (2 shards on a local Ray cluster), each
at concurrency 64, against the test server in its own process; and failover, dialogues per
minute before and after one of two replicas dies. Writes a section of docs/performance.md.

    python benchmarks/scale.py [--rounds 2] [--dialogues 256]

Client CPU milliseconds per model call are measured in each client process
(``time.process_time``): unlike throughput, they do not depend on how busy the machine is.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _report import machine, update_section
from generation_throughput import ServerProcess

from sweetiechat.config import GenerationConfig
from sweetiechat.generate import generate_dialogues

LATENCY = 0.5
TURNS = 3


def config(base_url: str | list[str], concurrency: int) -> GenerationConfig:
    return GenerationConfig.model_validate(
        {
            "defaults": {
                "backend": "openai",
                "base_url": base_url,
                "model": "bench",
                "api_key_env": "",
                "timeout": 30,
                "wait_max": 0.5,
            },
            "counselor": {"kind": "prompted"},
            "concurrency": concurrency,
            "max_seeker_turns": TURNS,
            "min_seeker_turns": TURNS,
        }
    )


def one_process(server: ServerProcess, n: int, folder: Path) -> dict[str, float]:
    before, cpu, start = server.calls(), time.process_time(), time.perf_counter()
    state = generate_dialogues(n, folder / "one.jsonl", config(server.base_url, 64))
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    calls = server.calls() - before
    return {
        "wall": wall,
        "calls_s": calls / wall,
        "cpu_ms": 1000 * cpu / calls,
        "written": state.written,
        "ideal": 64 / LATENCY,
    }


def two_shards(server: ServerProcess, n: int, folder: Path) -> dict[str, float]:
    from sweetiechat.distributed import run_on_ray

    before, start = server.calls(), time.perf_counter()
    result = run_on_ray(n, folder / "ray.jsonl", config(server.base_url, 64), shards=2)
    wall = time.perf_counter() - start
    calls = server.calls() - before
    shard_wall = max(r.wall_s for r in result.shards)
    return {
        "wall": wall,
        "calls_s": calls / wall,
        "calls_s_shards": calls / shard_wall,
        "cpu_ms": 1000 * sum(r.cpu_s for r in result.shards) / calls,
        "written": result.state.written,
        "ideal": 2 * 64 / LATENCY,
    }


def failover(n: int, folder: Path) -> dict[str, float]:
    """Two replicas at 0.2 s latency; the first is killed once a third of ``n`` is written."""
    servers = [ServerProcess(0.2), ServerProcess(0.2)]
    out = folder / "failover.jsonl"
    stamps: list[float] = []
    killed_at: list[float] = []
    done = threading.Event()

    def watch() -> None:
        seen = 0
        while not done.is_set():
            lines = out.read_text().count("\n") if out.exists() else 0
            stamps.extend([time.perf_counter()] * (lines - seen))
            seen = lines
            if not killed_at and lines >= n // 3:
                servers[0].kill()
                killed_at.append(time.perf_counter())
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    start = time.perf_counter()
    try:
        state = generate_dialogues(n, out, config([s.base_url for s in servers], 16))
    finally:
        done.set()
        watcher.join()
        for s in servers:
            if s.proc.poll() is None:
                s.kill()
    end = time.perf_counter()
    kill = killed_at[0] if killed_at else end
    before = sum(1 for t in stamps if t <= kill)
    after = len(stamps) - before
    return {
        "before": 60 * before / max(kill - start, 1e-9),
        "after": 60 * after / max(end - kill, 1e-9),
        "written": state.written,
        "failovers": state.ledger.failovers,
        "failures": len(state.failures),
    }


def spread(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{statistics.median(values):.1f} ({min(values):.1f}–{max(values):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--dialogues", type=int, default=256)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/ alone")
    args = parser.parse_args()
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    rows: dict[str, list[dict[str, float]]] = {"one": [], "two": []}
    server = ServerProcess(LATENCY)
    try:
        for r in range(args.rounds):
            for kind in ("one", "two"):  # side by side, alternating
                folder = Path(tempfile.mkdtemp(prefix=f"sweetiechat-scale-{kind}{r}-"))
                run = one_process if kind == "one" else two_shards
                rows[kind].append(run(server, args.dialogues, folder))
                x = rows[kind][-1]
                print(
                    f"{kind} process(es): {x['calls_s']:.1f} calls/s "
                    f"({100 * x['calls_s'] / x['ideal']:.0f}% of ideal), "
                    f"{x['cpu_ms']:.2f} CPU ms/call, {x['wall']:.1f} s",
                    flush=True,
                )
    finally:
        server.kill()
    fail = failover(max(48, args.dialogues // 4), Path(tempfile.mkdtemp()))
    ray.shutdown()
    one, two = rows["one"], rows["two"]
    ratio = [b["calls_s"] / a["calls_s"] for a, b in zip(one, two, strict=True)]
    lines = [
        "## Past one process (`benchmarks/scale.py`)",
        "",
        f"Measured on {machine()} (load average at start: {os.getloadavg()[0]:.1f}). Test server "
        f"in its own process, {LATENCY * 1000:.0f} ms per call; {args.dialogues} dialogues of "
        f"{TURNS} seeker turns per run; {args.rounds} rounds, alternating; median (min–max).",
        "",
        "| clients | concurrency | calls/s | % of ideal | client CPU ms/call | wall s |",
        "|---|---|---|---|---|---|",
        f"| 1 process | 64 | {spread([x['calls_s'] for x in one])} | "
        f"{spread([100 * x['calls_s'] / x['ideal'] for x in one])} | "
        f"{spread([x['cpu_ms'] for x in one])} | {spread([x['wall'] for x in one])} |",
        f"| 2 shards on Ray | 2 × 64 | {spread([x['calls_s'] for x in two])} | "
        f"{spread([100 * x['calls_s'] / x['ideal'] for x in two])} | "
        f"{spread([x['cpu_ms'] for x in two])} | {spread([x['wall'] for x in two])} |",
        "",
        f"Two shards / one process: {spread(ratio)}× the calls per second. The Ray row's wall "
        "time includes starting the workers; counted from the shards' own start and end it is "
        f"{spread([x['calls_s_shards'] for x in two])} calls/s.",
        "",
        f"Failover: two replicas at 200 ms, concurrency 16, the first killed (SIGKILL) after a "
        f"third of the dialogues: {fail['before']:.1f} dialogues/min before, "
        f"{fail['after']:.1f} after; {int(fail['written'])} of {max(48, args.dialogues // 4)} "
        f"written, {int(fail['failures'])} failed, replicas taken out {int(fail['failovers'])} "
        "time(s).",
    ]
    print("\n".join(lines))
    if not args.no_write:
        update_section("scale", "\n".join(lines))


if __name__ == "__main__":
    main()
