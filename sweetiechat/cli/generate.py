"""``sweetiechat generate``: role-played dialogues at scale, with progress, resume and a
summary; Ctrl-C stops cleanly."""

from __future__ import annotations

import asyncio
import signal
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import typer
from rich.console import Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from sweetiechat.cli._common import console, err_console
from sweetiechat.config import GenerationConfig, load_config
from sweetiechat.generate import RunState, agenerate_dialogues, check_output
from sweetiechat.io import read_dialogues
from sweetiechat.shards import Shard, parse_shard
from sweetiechat.types import Dialogue

COUNSELORS = ("likelihood", "served", "prompted", "none")


def _overrides(
    config: GenerationConfig,
    backend: str | None,
    base_url: str | list[str] | None,
    model: str | None,
    counselor: str | None,
) -> GenerationConfig:
    """Point every role (and, for openai, a prompted counselor) at one backend."""
    data = config.model_dump(exclude_unset=True)
    if backend or base_url or model:
        defaults = data.get("defaults", {})
        for key, value in (("backend", backend), ("base_url", base_url), ("model", model)):
            if value is not None:
                defaults[key] = value
        data["defaults"] = defaults
        for role in data.get("roles", {}).values():
            for key in ("backend", "base_url", "model"):
                role.pop(key, None)
        if backend is not None and backend != "embedded":
            data["counselor"] = {"kind": "prompted"}
    if counselor:
        data.setdefault("counselor", {})["kind"] = counselor
    return load_config(None, **data)


def render_dialogue(d: Dialogue) -> Panel:
    """A dialogue as a rich panel: scenario, profile, then the turns with strategies."""
    table = Table.grid(padding=(0, 1))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for t in d.turns:  # model text is escaped: a "[tag]" in it is not rich markup
        if t.role == "seeker":
            table.add_row("[cyan]Seeker[/]", escape(t.text))
        else:
            table.add_row("[green]Supporter[/]", f"[dim]\\[{t.strategy}][/] {escape(t.text)}")
    head = Text.from_markup(
        f"[b]{d.problem_type.value}[/]\n[i]Scenario:[/] {escape(d.scenario or '')}\n"
        f"[i]Profile:[/] {escape(d.profile or '')}",
        overflow="fold",
    )
    return Panel(Group(head, "", table), title=d.id, expand=True)


def _summary(state: RunState, out: Path) -> None:
    total = state.ledger.total
    table = Table(title="Generation summary", show_header=False)
    table.add_row("output", str(out))
    table.add_row("requested", str(state.requested))
    table.add_row("already there (resumed)", str(state.skipped))
    table.add_row("written now", str(state.written))
    table.add_row("failed", str(len(state.failures)))
    table.add_row("dialogue attempts retried", str(state.ledger.errors))
    table.add_row("stopped early (Ctrl-C)", "yes" if state.interrupted else "no")
    table.add_row("utterances", f"{state.turns:,} ({state.turns_per_s:.2f}/s)")
    table.add_row("model calls", f"{total.calls:,} (retries {state.ledger.retries})")
    if state.ledger.failovers:
        table.add_row("replicas taken out (failover)", str(state.ledger.failovers))
    table.add_row(
        "tokens", f"{total.prompt_tokens:,} prompt + {total.completion_tokens:,} completion"
    )
    table.add_row("cost", f"${total.cost_usd:.4f}")
    table.add_row("crisis dialogues", str(state.crisis))
    table.add_row("replies regenerated (safety check)", str(state.safety_regenerated))
    table.add_row("template replies (safety check)", str(state.safety_templates))
    table.add_row("counselor fallbacks", str(state.counselor_fallbacks))
    table.add_row("wall time", f"{state.wall_s:.1f} s")
    console.print(table)
    for index, reason in sorted(state.failures.items())[:20]:
        err_console.print(f"[red]failed[/] dialogue {index}: {escape(reason)}", highlight=False)


class _RunProgress(Progress):
    """The progress bar, then the latest utterance on one line (so a slow model shows life)."""

    last = ""

    def get_renderables(self) -> Iterable[RenderableType]:
        yield from super().get_renderables()
        if self.last:
            yield Text(self.last, style="dim", no_wrap=True, overflow="ellipsis")


async def _run(
    n: int, out: Path, config: GenerationConfig, resume: bool, shard: Shard | None = None
) -> RunState:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    presses = 0

    def on_sigint() -> None:
        nonlocal presses
        presses += 1
        if presses > 1:
            raise KeyboardInterrupt
        err_console.print("\n[yellow]stopping: finishing cleanly (Ctrl-C again to abort)[/]")
        stop.set()

    try:
        loop.add_signal_handler(signal.SIGINT, on_sigint)
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    except (NotImplementedError, RuntimeError):  # pragma: no cover - Windows
        pass
    state = RunState(requested=len(shard.indices(n)) if shard else n)
    columns: list[Any] = [
        TextColumn("[bold]dialogues"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[stats]}"),
    ]
    with _RunProgress(*columns, console=err_console, transient=False) as progress:
        task = progress.add_task("generate", total=state.requested, stats="")

        def refresh() -> None:
            total = state.ledger.total
            tokens = total.prompt_tokens + total.completion_tokens
            progress.update(
                task,
                completed=state.skipped + state.written,
                stats=(
                    f"{state.in_flight} running · {state.live_turns} utterances "
                    f"({state.live_turns_per_s:.2f}/s) · {tokens:,} tok · "
                    f"{state.ledger.retries} retries · {len(state.failures)} failed"
                ),
            )
            progress.last = state.last_utterance

        async def ticker() -> None:
            while True:
                refresh()
                await asyncio.sleep(0.25)

        ticking = asyncio.create_task(ticker())
        try:
            await agenerate_dialogues(
                n, out, config, resume=resume, state=state, stop=stop, shard=shard
            )
        finally:
            ticking.cancel()
            refresh()
    return state


def generate(
    n: int = typer.Option(10, "-n", help="How many dialogues the output should hold."),
    out: Path = typer.Option(..., "-o", "--out", help="Output JSON-lines file."),
    config_path: Path | None = typer.Option(None, "--config", help="TOML or YAML config file."),
    concurrency: int | None = typer.Option(None, "--concurrency", help="Dialogues at once."),
    seed: int | None = typer.Option(None, "--seed", help="Run seed (ids derive from it)."),
    resume: bool = typer.Option(False, "--resume", help="Continue an existing output."),
    backend: str | None = typer.Option(
        None, "--backend", help="embedded or openai, for every role (overrides the config)."
    ),
    base_url: list[str] | None = typer.Option(
        None,
        "--base-url",
        help="OpenAI-compatible server URL; repeat it for replicas of one model (failover).",
    ),
    model: str | None = typer.Option(None, "--model", help="Model name for every role."),
    counselor: str | None = typer.Option(
        None, "--counselor", help=f"Counselor kind: {', '.join(COUNSELORS)}."
    ),
    seed_dialogues: Path | None = typer.Option(
        None, "--seed-dialogues", help="Seed pool S from this file (e.g. ESConv train.json)."
    ),
    problem_type: list[str] | None = typer.Option(
        None, "--problem-type", help="Only these problem types (repeatable)."
    ),
    max_turns: int | None = typer.Option(None, "--max-turns", help="Seeker turns at most."),
    min_turns: int | None = typer.Option(None, "--min-turns", help="Seeker turns at least."),
    show: int = typer.Option(0, "--show", help="Print this many dialogues at the end."),
    crisis_locale: str | None = typer.Option(
        None,
        "--crisis-locale",
        help="Crisis lines the supporter points to (en-US, en-GB, en-IE, en-CA, en-AU, en-NZ).",
    ),
    shard_text: str | None = typer.Option(
        None,
        "--shard",
        help="Generate only shard K/N of the run's indices (e.g. 1/4), into this -o; "
        "merge the shards with `sweetiechat data merge`.",
    ),
    seed_pools: Path | None = typer.Option(
        None,
        "--seed-pools",
        help="Start the seed pools from this run folder (OUT.jsonl.run); give every shard "
        "the same one.",
    ),
    use_ray: bool = typer.Option(
        False, "--ray", help="Run --shards shards as Ray tasks (pip install 'sweetiechat[ray]')."
    ),
    shards: int | None = typer.Option(None, "--shards", help="With --ray: how many shards."),
    address: str | None = typer.Option(
        None, "--address", help="With --ray: the Ray cluster (default: start a local one)."
    ),
    enforce_strategy: bool = typer.Option(
        False,
        "--enforce-strategy",
        help="Regenerate a supporter turn whose recognized strategy is not the assigned one "
        "(the recognizer: --recognizer DIR, else the one shipped in the package).",
    ),
    enforce_role: bool = typer.Option(
        False, "--enforce-role", help="Regenerate a seeker turn that slides into the supporter's."
    ),
    enforce_tries: int | None = typer.Option(
        None, "--enforce-tries", help="Attempts per checked turn in all (default 3)."
    ),
    recognizer: Path | None = typer.Option(
        None, "--recognizer", help="Strategy recognizer folder (sweetiechat quality train-...)."
    ),
    role_detector: Path | None = typer.Option(
        None, "--role-detector", help="Role-detector folder (default: the shipped one)."
    ),
    role_threshold: float | None = typer.Option(
        None, "--role-threshold", help="Flag seeker turns from this P(supporter) on (0-1)."
    ),
) -> None:
    """Generate strategy-annotated emotional-support dialogues by role-play.

    With no config everything runs offline on the embedded SmolLM2 model:

        sweetiechat generate -n 3 -o out.jsonl

    Point every role at an OpenAI-compatible server (key from OPENAI_API_KEY):

        sweetiechat generate -n 100 -o out.jsonl --backend openai --model gpt-4o-mini
    """
    if n < 1:
        raise typer.BadParameter(f"{n} dialogues; ask for at least 1", param_hint="-n")
    shard = parse_shard(shard_text) if shard_text is not None else None
    if use_ray and shard is not None:
        raise typer.BadParameter("--ray runs every shard; use --shards N", param_hint="--shard")
    if (shards is not None or address is not None) and not use_ray:
        raise typer.BadParameter("--shards and --address go with --ray", param_hint="--shards")
    if shards is not None and shards < 1:
        raise typer.BadParameter(f"{shards} shards; ask for at least 1", param_hint="--shards")
    if counselor is not None and counselor not in COUNSELORS:
        raise typer.BadParameter(f"choose one of {', '.join(COUNSELORS)}", param_hint="--counselor")
    if backend is not None and backend not in ("embedded", "openai"):
        raise typer.BadParameter("choose embedded or openai", param_hint="--backend")
    from sweetiechat.factory import preflight

    base = load_config(
        config_path,
        concurrency=concurrency,
        seed=seed,
        seed_dialogues=str(seed_dialogues) if seed_dialogues else None,
        problem_types={p: 1.0 for p in problem_type} if problem_type else None,
        max_seeker_turns=max_turns,
        min_seeker_turns=min_turns,
        seed_pools=str(seed_pools) if seed_pools else None,
        crisis_locale=crisis_locale,
    )
    enforcement: dict[str, Any] = {"strategy": enforce_strategy or None, "tries": enforce_tries}
    enforcement["role"] = enforce_role or None
    enforcement.update(recognizer=recognizer, role_detector=role_detector)
    if any(v is not None for v in (*enforcement.values(), role_threshold)) or (
        base.enforcement.strategy or base.enforcement.role
    ):
        from sweetiechat.quality.enforce import with_enforcement

        paths = {k: str(v) if isinstance(v, Path) else v for k, v in enforcement.items()}
        base = with_enforcement(base, **paths, role_threshold=role_threshold)
    urls = list(base_url or [])
    if urls and backend is None and base.defaults.backend == "embedded" and not base.roles:
        raise typer.BadParameter(
            "the roles run on the embedded model, which has no URL; add --backend openai",
            param_hint="--base-url",
        )
    config = _overrides(
        base, backend, urls[0] if len(urls) == 1 else urls or None, model, counselor
    )
    if use_ray:
        from sweetiechat.cli.ray_run import generate_on_ray

        generate_on_ray(n, out, config, resume, shards or 2, address, show)
        return
    check_output(out, config, resume, shard)
    if config.seed_dialogues:
        next(iter(read_dialogues(config.seed_dialogues)))  # a bad file fails before any work
    with console.status("checking backends and preparing models ..."):
        preflight(config)
    state = asyncio.run(_run(n, out, config, resume, shard))
    _summary(state, out)
    if show:
        for d in deque(read_dialogues(out), maxlen=show) if out.exists() else []:
            console.print(render_dialogue(d), soft_wrap=False)  # wrap inside the panel
    if state.interrupted:
        raise typer.Exit(130)
    if state.failures:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""
    app.command("generate")(generate)
