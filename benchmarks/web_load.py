"""The web app under many annotators submitting at once: answers per second, none lost or doubled.

Starts the real server (``sweetiechat web``, a separate process, on 127.0.0.1 only) on a fresh
database for each measurement, then lets N annotators (asyncio + httpx, one client each) each
work through a pairwise task: fetch the item, submit its 7 answers, and submit every fifth
form a second time (a double submit). Afterwards the database must hold exactly
N x items x 7 answers, none twice. One annotator alone is the baseline, measured in the same run.

    .venv/bin/python benchmarks/web_load.py                  # 50 annotators x 10 items, 2 runs
    .venv/bin/python benchmarks/web_load.py --annotators 10 --items 4 --runs 1

Reported: answers stored per second of wall time, POST latency (p50/p95), and the server's
CPU milliseconds per answer (from /proc; the machine-independent figure).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from sweetiechat.web.dims import PAIRWISE_DIMENSIONS
from sweetiechat.web.loading import load_pair_files
from sweetiechat.web.store import Store
from sweetiechat.web.testing import free_port, write_demo_pairs

MAX_ANNOTATORS = 200
MAX_ITEMS = 50
ADMIN = "bench-admin-token"
EXE = Path(sys.executable).with_name("sweetiechat")


@dataclass
class Result:
    annotators: int
    items: int
    wall_s: float
    stored: int
    expected: int
    duplicated: int
    posts: int
    p50_ms: float
    p95_ms: float
    server_cpu_s: float

    @property
    def answers_per_s(self) -> float:
        return self.stored / self.wall_s

    @property
    def cpu_ms_per_answer(self) -> float:
        return 1000 * self.server_cpu_s / max(self.stored, 1)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _field(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]+)"', page)
    if match is None:
        raise RuntimeError(f"the page has no {name} field:\n{page[:500]}")
    return match.group(1)


async def _annotate(url: str, token: str, task: int, items: int, latencies: list[float]) -> int:
    posts = 0
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        for n in range(items):
            page = (await client.get(f"/annotate/{token}/task/{task}")).text
            form = {"csrf": _field(page, "csrf"), "item": _field(page, "item")}
            form.update({f"dim-{i}": "AB"[(n + i) % 2] for i in range(len(PAIRWISE_DIMENSIONS))})
            for _ in range(2 if n % 5 == 4 else 1):
                start = time.perf_counter()
                response = await client.post(f"/annotate/{token}/task/{task}", data=form)
                latencies.append(time.perf_counter() - start)
                posts += 1
                if response.status_code != 303:
                    raise RuntimeError(f"submit failed: {response.status_code} {response.text}")
    return posts


def measure(annotators: int, items: int, folder: Path) -> Result:
    """One measurement on a fresh database and a fresh server process."""
    db = folder / f"load-{annotators}-{time.monotonic_ns()}.sqlite"
    store = Store(db)
    a, b = write_demo_pairs(folder / "in", items)
    task = load_pair_files(store, a, b, "load")
    tokens = [store.add_annotator(f"annotator{i}").token for i in range(annotators)]
    port = free_port()
    server = subprocess.Popen(
        [str(EXE), "web", "--db", str(db), "--host", "127.0.0.1", "--port", str(port),
         "--no-chat", "--admin-token", ADMIN],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300  # a busy machine starts it slowly
        while True:
            try:
                httpx.get(f"{url}/", timeout=2)
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.2)
        cpu0 = _cpu_seconds(server.pid)
        latencies: list[float] = []

        async def everyone() -> list[int]:
            return await asyncio.gather(
                *(_annotate(url, t, task, items, latencies) for t in tokens)
            )

        start = time.perf_counter()
        posts = sum(asyncio.run(everyone()))
        wall = time.perf_counter() - start
        cpu = _cpu_seconds(server.pid) - cpu0
    finally:
        server.terminate()
        server.wait(timeout=30)
    stored = store.rows("SELECT COUNT(*) AS n FROM answers")[0]["n"]
    duplicated = store.rows(
        "SELECT COUNT(*) AS n FROM (SELECT 1 FROM answers GROUP BY annotator_id, item_id, "
        "dimension HAVING COUNT(*) > 1)"
    )[0]["n"]
    latencies.sort()
    return Result(
        annotators, items, wall, stored, annotators * items * len(PAIRWISE_DIMENSIONS),
        duplicated, posts, 1000 * statistics.median(latencies),
        1000 * latencies[int(0.95 * (len(latencies) - 1))], cpu,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--annotators", type=int, default=50)
    parser.add_argument("--items", type=int, default=10, help="items per annotator")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    if not 1 <= args.annotators <= MAX_ANNOTATORS or not 1 <= args.items <= MAX_ITEMS:
        parser.error(f"--annotators 1..{MAX_ANNOTATORS}, --items 1..{MAX_ITEMS}")
    rows: list[tuple[int, Result, Result]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(1, args.runs + 1):
            one = measure(1, args.items, Path(tmp))
            many = measure(args.annotators, args.items, Path(tmp))
            rows.append((run, one, many))
    head = ("run", "annotators", "answers", "lost", "dup", "wall s", "answers/s", "vs 1",
            "POST p50 ms", "p95 ms", "CPU ms/ans")  # fmt: skip
    widths = (3, 10, 8, 5, 4, 7, 10, 6, 11, 7, 10)
    print(" ".join(f"{h:>{w}}" for h, w in zip(head, widths, strict=True)))
    failed = False
    for run, one, many in rows:
        for r in (one, many):
            lost = r.expected - r.stored
            failed |= lost != 0 or r.duplicated != 0
            ratio = r.answers_per_s / one.answers_per_s
            print(f"{run:>3} {r.annotators:>10} {r.stored:>8} {lost:>5} {r.duplicated:>4} "
                  f"{r.wall_s:>7.2f} {r.answers_per_s:>10.0f} {ratio:>5.2f}x {r.p50_ms:>11.1f} "
                  f"{r.p95_ms:>7.1f} {r.cpu_ms_per_answer:>10.2f}")  # fmt: skip
    if len(rows) > 1:
        rates = [many.answers_per_s for _, _, many in rows]
        cpu = [many.cpu_ms_per_answer for _, _, many in rows]
        print(f"{args.annotators} annotators over {len(rows)} runs: "
              f"{min(rates):.0f}-{max(rates):.0f} answers/s "
              f"(spread {100 * (max(rates) - min(rates)) / statistics.mean(rates):.0f}%), "
              f"server CPU {min(cpu):.2f}-{max(cpu):.2f} ms per answer")  # fmt: skip
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} cores, load average {load} (other work shares the CPUs)")
    if failed:
        sys.exit("answers were lost or duplicated")


if __name__ == "__main__":
    main()
