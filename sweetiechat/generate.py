"""Many dialogues at once (docs/method.md): sampling, seed pools, concurrency, resume.

Each dialogue's id is ``sc<seed>-<index>``: a rerun with ``resume=True`` skips the ids
already in the output, so nothing is duplicated or lost. Every finished dialogue is
appended whole (one write, fsync); an interrupted one is never written.

>>> summary = generate_dialogues(3, "out/demo.jsonl", GenerationConfig())  # doctest: +SKIP
>>> summary.written  # doctest: +SKIP
3
"""

from __future__ import annotations

import asyncio
import copy
import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sweetiechat._async import run_sync
from sweetiechat.backends.wrappers import DIALOGUE_USAGE, UsageLedger
from sweetiechat.config import GenerationConfig
from sweetiechat.conversation import Conversation, attributed
from sweetiechat.errors import UserError
from sweetiechat.factory import Team, build_team
from sweetiechat.io import JsonlWriter
from sweetiechat.pools import SeedPools
from sweetiechat.runs import check_output, prepare_run, run_folder
from sweetiechat.shards import Shard
from sweetiechat.taxonomy import PROBLEM_TYPE_WEIGHTS, ProblemType
from sweetiechat.types import Dialogue, DialogueMeta, Scenario, Usage

__all__ = [
    "RunAborted",
    "RunState",
    "agenerate_dialogues",
    "check_output",
    "dialogue_id",
    "generate_dialogues",
    "run_folder",
]


class RunAborted(UserError):
    """An error no retry can fix (401, 403, 404): the run stops; what is written is kept."""


def is_fatal(err: BaseException) -> bool:
    """True for an authentication, permission or missing-model error."""
    return getattr(err, "status_code", None) in (401, 403, 404)


_KEYLIKE = re.compile(r"(sk|pk|rk|key|hf|gsk|xai)[-_][A-Za-z0-9_\-*]{6,}", re.IGNORECASE)


def redact(text: str) -> str:
    """Remove anything that looks like an API key, and the values of key variables."""
    for name, value in os.environ.items():
        if value and len(value) >= 8 and ("KEY" in name or "TOKEN" in name or "SECRET" in name):
            text = text.replace(value, "[redacted]")
    return _KEYLIKE.sub("[redacted]", text)


def dialogue_id(seed: int, index: int) -> str:
    """The stable id of dialogue ``index`` of a run with ``seed``."""
    return f"sc{seed}-{index:06d}"


@dataclass
class RunState:
    """Live counters of a run, for progress display and the final summary."""

    requested: int
    skipped: int = 0
    written: int = 0
    turns: int = 0
    failures: dict[int, str] = field(default_factory=dict)
    in_flight: int = 0
    interrupted: bool = False
    started: float = field(default_factory=time.perf_counter)
    wall_s: float = 0.0
    ledger: UsageLedger = field(default_factory=UsageLedger)
    crisis: int = 0
    counselor_fallbacks: int = 0
    safety_regenerated: int = 0
    """Supporter replies regenerated because they failed the safety check."""
    safety_templates: int = 0
    """Supporter replies replaced by the vetted crisis template after failed tries."""
    live_turns: int = 0
    """Utterances generated so far, those of dialogues still running included."""
    last_utterance: str = ""
    """The latest utterance generated, as ``Seeker: ...`` or ``Supporter: ...``."""

    @property
    def elapsed(self) -> float:
        """Seconds since the start."""
        return time.perf_counter() - self.started

    @property
    def turns_per_s(self) -> float:
        """Utterances written per second."""
        return self.turns / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def live_turns_per_s(self) -> float:
        """Utterances generated per second, running dialogues included."""
        return self.live_turns / self.elapsed if self.elapsed > 0 else 0.0


_Agent = TypeVar("_Agent")


def _counting(agent: _Agent, state: RunState, label: str) -> _Agent:
    """A shallow copy of ``agent`` whose ``arespond`` counts each utterance into ``state``
    as it happens, so progress moves before a whole dialogue is done."""
    twin = copy.copy(agent)
    respond = agent.arespond  # type: ignore[attr-defined]

    async def arespond(*args: Any, **kwargs: Any) -> Any:
        reply = await respond(*args, **kwargs)
        state.live_turns += 1
        state.last_utterance = f"{label}: {getattr(reply, 'text', '')}"
        return reply

    twin.arespond = arespond  # type: ignore[attr-defined]
    return twin


def _valid(d: Dialogue, min_turns: int) -> str | None:
    if not d.alternates:
        return "roles do not alternate"
    if len(d.turns) < min_turns:
        return f"only {len(d.turns)} turns"
    return None


class _Run:
    def __init__(
        self,
        config: GenerationConfig,
        team: Team,
        pools: SeedPools,
        writer: JsonlWriter,
        state: RunState,
    ) -> None:
        self.config = config
        self.team = team
        self.pools = pools
        self.writer = writer
        self.state = state
        weights = config.weights() or PROBLEM_TYPE_WEIGHTS
        self.types = list(weights)
        self.weights = [float(w) for w in weights.values()]
        self.min_turns = min(2 * config.min_seeker_turns - 1, 2 * config.max_seeker_turns - 1)
        self.seeker = _counting(team.seeker, state, "Seeker")
        self.supporter = _counting(team.supporter, state, "Supporter")

    async def one(self, index: int) -> Dialogue:
        cfg, team = self.config, self.team
        rng = random.Random(f"{cfg.seed}:{index}")
        problem_type: ProblemType = rng.choices(self.types, self.weights)[0]
        usage = Usage()
        token = DIALOGUE_USAGE.set(usage)
        try:
            t0 = time.perf_counter()
            seed = self.pools.draw_scenario(problem_type, rng)
            scenario = await attributed(
                "scenario writer",
                team.scenario_writer,
                team.scenario_writer.awrite(problem_type, seed),
            )
            t1 = time.perf_counter()
            example = self.pools.draw_profile(problem_type, rng)
            profile = await attributed(
                "profile writer",
                team.profile_writer,
                team.profile_writer.awrite(problem_type, scenario.text, example),
            )
            self.pools.add_profile(profile)
            t2 = time.perf_counter()
            conversation = Conversation(
                seeker=self.seeker,
                supporter=self.supporter,
                counselor=team.counselor,
                problem_type=problem_type,
                scenario=scenario.text,
                profile=profile.text,
                example=seed,
                max_seeker_turns=cfg.max_seeker_turns,
                min_seeker_turns=cfg.min_seeker_turns,
                dialogue_id=dialogue_id(cfg.seed, index),
            )
            meta = DialogueMeta(
                seed=cfg.seed,
                index=index,
                timings={"scenario": round(t1 - t0, 3), "profile": round(t2 - t1, 3)},
            )
            dialogue = await conversation.arun(meta)
        finally:
            DIALOGUE_USAGE.reset(token)
        models = {
            **dialogue.meta.models,
            "scenario_writer": team.scenario_writer.name,
            "profile_writer": team.profile_writer.name,
        }
        timings = {**dialogue.meta.timings, "total": round(time.perf_counter() - t0, 3)}
        usage.cost_usd = round(usage.cost_usd, 6)
        meta = dialogue.meta.model_copy(
            update={"usage": usage, "models": models, "timings": timings}
        )
        return dialogue.model_copy(update={"meta": meta})

    async def worker(self, queue: asyncio.Queue[int]) -> None:
        while not queue.empty():
            index = queue.get_nowait()
            self.state.in_flight += 1
            reasons = []
            try:
                for _ in range(self.config.dialogue_attempts):
                    try:
                        dialogue = await self.one(index)
                    except asyncio.CancelledError:
                        raise
                    except Exception as err:  # one failed dialogue must not stop the run ...
                        if is_fatal(err):  # ... unless no dialogue can succeed
                            raise RunAborted(
                                f"stopped: {redact(f'{type(err).__name__}: {err}')[:300]} "
                                "(a bad key, a missing model or a forbidden request: fix the "
                                "settings and rerun with --resume)"
                            ) from None
                        self.state.ledger.errors += 1
                        reasons.append(redact(f"{type(err).__name__}: {err}")[:300])
                        continue
                    problem = _valid(dialogue, self.min_turns)
                    if problem:
                        reasons.append(problem)
                        continue
                    self.writer.write(dialogue)  # one whole line; cancellation cannot tear it
                    self.pools.add_scenario(
                        Scenario(
                            problem_type=dialogue.problem_type,
                            text=dialogue.scenario or "",
                            turns=tuple(dialogue.turns),
                        )
                    )
                    self.state.written += 1
                    self.state.turns += len(dialogue.turns)
                    self.state.crisis += dialogue.meta.crisis
                    self.state.counselor_fallbacks += dialogue.meta.counselor_fallbacks
                    safety = getattr(dialogue.meta, "safety", None) or {}
                    self.state.safety_regenerated += int(safety.get("regenerated", 0))
                    self.state.safety_templates += int(safety.get("templates", 0))
                    break
                else:
                    self.state.failures[index] = "; ".join(reasons)
            finally:
                self.state.in_flight -= 1


async def agenerate_dialogues(
    n: int,
    out: str | Path,
    config: GenerationConfig | None = None,
    *,
    resume: bool = False,
    team: Team | None = None,
    state: RunState | None = None,
    stop: asyncio.Event | None = None,
    on_start: Callable[[RunState], None] | None = None,
    shard: Shard | None = None,
) -> RunState:
    """Generate dialogues ``0 .. n-1`` into ``out`` (JSON lines), ``config.concurrency`` at once.

    Args:
        n: how many dialogues the output should hold when done.
        out: the output file; the seed pools and settings go to ``<out>.run/``.
        config: settings (default: everything on the embedded model).
        resume: continue an existing output, skipping ids already written.
        team: agents to use instead of building them from ``config`` (custom setups).
        state: counters to update (pass one to watch progress); a new one by default.
        stop: set it to stop cleanly: no new dialogue starts, in-flight ones are cancelled
            and not written.
        on_start: called once the work is known (``state.skipped`` set).
        shard: generate only this shard's indices of ``0 .. n-1`` (see
            :mod:`sweetiechat.shards`); the output then holds that shard alone.

    Returns:
        The final :class:`RunState` (written, failures with reasons, usage, wall time).
    """
    config = config or GenerationConfig()
    out = Path(out)
    done, folder = prepare_run(out, config, resume, n, shard)
    own_team = team is None
    team = team or build_team(config, state.ledger if state else None)
    state = state or RunState(requested=n, ledger=team.ledger)
    state.ledger = team.ledger
    indices = shard.indices(n) if shard else list(range(n))
    state.requested = len(indices)
    todo = [i for i in indices if dialogue_id(config.seed, i) not in done]
    state.skipped = len(indices) - len(todo)
    if on_start:
        on_start(state)
    pools = SeedPools(folder, seed_dialogues=config.seed_dialogues, start_from=config.seed_pools)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in todo:
        queue.put_nowait(index)
    with JsonlWriter(out) as writer:
        run = _Run(config, team, pools, writer, state)
        workers = [asyncio.create_task(run.worker(queue)) for _ in range(config.concurrency)]
        everything: asyncio.Future[Any] = asyncio.gather(*workers)
        waiter: asyncio.Future[Any] | None = asyncio.ensure_future(stop.wait()) if stop else None
        try:
            await asyncio.wait(
                [everything, *([waiter] if waiter else [])], return_when=asyncio.FIRST_COMPLETED
            )
            state.interrupted = not everything.done()
        finally:
            for task in workers:  # the unfinished ones, also after one raised RunAborted
                task.cancel()
            if waiter is not None:
                waiter.cancel()
            outcomes = await asyncio.gather(everything, return_exceptions=True)
            await asyncio.gather(*workers, return_exceptions=True)
            pools.close()
            if own_team:
                await team.aclose()
            state.wall_s = state.elapsed
    if isinstance(outcomes[0], RunAborted):
        raise outcomes[0]
    return state


def generate_dialogues(
    n: int, out: str | Path, config: GenerationConfig | None = None, **kwargs: object
) -> RunState:
    """Synchronous :func:`agenerate_dialogues` (in a notebook, ``await`` the async one)."""
    return run_sync(agenerate_dialogues(n, out, config, **kwargs))  # type: ignore[arg-type]
