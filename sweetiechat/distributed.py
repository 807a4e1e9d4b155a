"""One generation run over several processes or machines, on Ray.

The run is split into ``N`` shards (:mod:`sweetiechat.shards`); each shard is one Ray task
with its own event loop, concurrency, output file and run folder. A task whose worker dies
is retried by Ray, and resumes from what its shard already wrote. When every task is done,
the shards are merged into the run's output.

Ray is an extra (``pip install 'sweetiechat[ray]'``), imported only here and only when used.

>>> shard_output("out/data.jsonl", Shard(2, 4)).name
'data.shard2of4.jsonl'
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweetiechat.backends.wrappers import ModelUsage, UsageLedger
from sweetiechat.config import GenerationConfig
from sweetiechat.errors import ConfigError
from sweetiechat.generate import RunState, agenerate_dialogues, check_output, run_folder
from sweetiechat.pools import SeedPools, clear_pools
from sweetiechat.shards import MergeReport, Shard, merge_shards

__all__ = ["RayRun", "ShardResult", "import_ray", "run_on_ray", "shard_output"]


def import_ray() -> Any:
    """The ``ray`` module, or a :class:`ConfigError` that says what to install."""
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "--ray needs Ray: pip install 'sweetiechat[ray]' (or pip install ray)"
        ) from None
    return ray


def shard_output(out: str | Path, shard: Shard) -> Path:
    """Where shard ``K/N`` of the run writing ``out`` keeps its dialogues."""
    out = Path(out)
    return out.with_name(f"{out.stem}.shard{shard.index}of{shard.count}{out.suffix}")


@dataclass
class ShardResult:
    """What one shard's task reports back (picklable)."""

    shard: str
    requested: int
    skipped: int
    written: int
    turns: int
    failures: dict[int, str]
    models: dict[str, ModelUsage]
    retries: int
    errors: int
    failovers: int
    crisis: int
    counselor_fallbacks: int
    wall_s: float
    cpu_s: float
    """CPU seconds the shard's process spent (client work per call, comparable across
    machines)."""
    interrupted: bool
    pid: int
    attempt: int
    """1 for a first run; more when Ray reran the task after its worker died (in this run
    or, with ``resume``, an earlier one)."""
    safety_regenerated: int = 0
    safety_templates: int = 0


def _count_attempt(out: Path) -> int:
    """Record one more attempt of the shard writing ``out``; returns the count so far."""
    folder = run_folder(out)
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / "attempts"
    count = int(marker.read_text() or 0) + 1 if marker.is_file() else 1
    tmp = marker.with_name("attempts.tmp")
    tmp.write_text(str(count))
    tmp.replace(marker)
    return count


def _run_shard(n: int, out: str, config_json: str, shard_text: str) -> ShardResult:
    """The body of one Ray task: generate one shard, resuming what it already wrote."""
    from sweetiechat.shards import parse_shard

    config = GenerationConfig.model_validate_json(config_json)
    shard = parse_shard(shard_text)
    attempt = _count_attempt(Path(out))
    cpu = time.process_time()
    state = asyncio.run(agenerate_dialogues(n, out, config, resume=True, shard=shard))
    return ShardResult(
        shard=shard_text,
        requested=state.requested,
        skipped=state.skipped,
        written=state.written,
        turns=state.turns,
        failures=state.failures,
        models=state.ledger.models,
        retries=state.ledger.retries,
        errors=state.ledger.errors,
        failovers=state.ledger.failovers,
        crisis=state.crisis,
        counselor_fallbacks=state.counselor_fallbacks,
        wall_s=state.wall_s,
        cpu_s=time.process_time() - cpu,
        interrupted=state.interrupted,
        pid=os.getpid(),
        attempt=attempt,
        safety_regenerated=state.safety_regenerated,
        safety_templates=state.safety_templates,
    )


@dataclass
class RayRun:
    """The outcome of :func:`run_on_ray`."""

    state: RunState
    """The shards' counters added up (usage per model, failures by index, ...)."""
    shards: list[ShardResult]
    """Each shard's own report (of its last, successful attempt)."""
    outputs: list[Path]
    """The shard files."""
    merged: MergeReport | None = None
    """The merge into the run's output; ``None`` when dialogues are missing."""


def _lines(path: Path) -> int:
    """Complete records in a shard file (its newlines), cheaply, for progress."""
    try:
        with path.open("rb") as fh:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    except FileNotFoundError:
        return 0


def run_on_ray(
    n: int,
    out: str | Path,
    config: GenerationConfig,
    *,
    shards: int = 2,
    address: str | None = None,
    resume: bool = False,
    max_retries: int = 3,
    on_progress: Callable[[dict[str, int]], None] | None = None,
    poll_s: float = 0.5,
) -> RayRun:
    """Generate dialogues ``0 .. n-1`` as ``shards`` Ray tasks, then merge them into ``out``.

    Every shard starts from the same seed pools (``config.seed_pools``, else pools built
    once in ``<out>.run/``); each then grows its own pools by self-iteration, so a shard
    learns from its own dialogues only.

    Args:
        n: dialogues in the whole run.
        out: the merged output; shard ``K`` of ``N`` writes ``<out stem>.shardKofN.jsonl``.
        config: the run's settings (each task uses ``config.concurrency``).
        shards: how many shards (Ray tasks).
        address: a Ray cluster's address; ``None`` joins the one this process already
            started, or starts a local one.
        resume: continue the shards of an earlier run with the same settings.
        max_retries: how often Ray reruns a task whose worker died.
        on_progress: called about every ``poll_s`` seconds with the dialogues each shard
            file holds.

    Raises:
        ConfigError: Ray missing or unreachable, or a shard output that would be overwritten
            without ``resume``.
    """
    ray = import_ray()
    out = Path(out).resolve()
    if shards < 1:
        raise ConfigError(f"--shards {shards}: ask for at least 1")
    parts = [Shard(k, shards) for k in range(1, shards + 1)]
    outputs = [shard_output(out, s) for s in parts]
    if out.exists() and out.stat().st_size > 0 and not resume:
        raise ConfigError(f"{out} already exists; pass --resume to continue, or another -o")
    if config.seed_pools is None:  # one starting pool for every shard
        folder = run_folder(out)
        if not resume:
            clear_pools(folder)
        SeedPools(folder, seed_dialogues=config.seed_dialogues).close()
        config = config.model_copy(update={"seed_pools": str(folder)})
    for path, part in zip(outputs, parts, strict=True):
        check_output(path, config, resume, part)  # nothing is overwritten by accident
        (run_folder(path) / "attempts").unlink(missing_ok=True)  # counts this run's tries
        if not resume:  # a new run: no shard reuses pools an earlier run left behind
            clear_pools(run_folder(path))
    if not ray.is_initialized():
        _check_reachable(address)
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        except Exception as err:  # ConnectionError, ValueError, RuntimeError, ...
            where = address or "a local cluster"
            raise ConfigError(
                f"cannot start or reach Ray at {where}: {type(err).__name__}: {err}"[:400]
            ) from None
    task = ray.remote(max_retries=max_retries, retry_exceptions=False)(_run_shard)
    payload = config.model_dump_json()
    started = time.perf_counter()
    pending = {
        task.remote(n, str(path), payload, str(part)): str(part)
        for path, part in zip(outputs, parts, strict=True)
    }
    results: list[ShardResult] = []
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=poll_s)
        for ref in ready:
            pending.pop(ref)
            results.append(ray.get(ref))  # a task that failed for good raises here
        if on_progress:
            on_progress({str(p): _lines(o) for p, o in zip(parts, outputs, strict=True)})
    results.sort(key=lambda r: int(r.shard.split("/")[0]))
    state = _combine(results, config, started)
    state.wall_s = time.perf_counter() - started
    missing = any(r.failures for r in results) or state.interrupted
    merged = None if missing else merge_shards(out, list(outputs))
    return RayRun(state=state, shards=results, outputs=outputs, merged=merged)


def _check_reachable(address: str | None) -> None:
    """Fail in seconds, not minutes, when a cluster address does not answer (Ray itself
    keeps retrying for a long time)."""
    if address is None or address in ("auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=5):
            pass
    except (OSError, ValueError) as err:
        raise ConfigError(
            f"cannot start or reach Ray at {address}: {type(err).__name__}: {err}; check the "
            "address (host:port of the head node, or ray://host:10001) and that it is running"
        ) from None


def _combine(results: list[ShardResult], config: GenerationConfig, started: float) -> RunState:
    ledger = UsageLedger(prices=config.all_prices())
    state = RunState(requested=sum(r.requested for r in results), ledger=ledger, started=started)
    for r in results:
        state.skipped += r.skipped
        state.written += r.written
        state.turns += r.turns
        state.failures.update(r.failures)
        state.crisis += r.crisis
        state.counselor_fallbacks += r.counselor_fallbacks
        state.safety_regenerated += r.safety_regenerated
        state.safety_templates += r.safety_templates
        state.interrupted = state.interrupted or r.interrupted
        ledger.retries += r.retries
        ledger.errors += r.errors
        ledger.failovers += r.failovers
        for model, usage in r.models.items():
            entry = ledger.models.setdefault(model, ModelUsage())
            entry.calls += usage.calls
            entry.prompt_tokens += usage.prompt_tokens
            entry.completion_tokens += usage.completion_tokens
            entry.cost_usd += usage.cost_usd
    return state
