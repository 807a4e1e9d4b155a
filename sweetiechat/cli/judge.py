"""``sweetiechat judge``: an LLM judge, pairwise on the paper's 7 dimensions or 1-5 ratings
of whole dialogues, with agreement, position bias, a table and a plot."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sweetiechat.cli._common import console, err_console
from sweetiechat.config import RoleConfig, load_config
from sweetiechat.errors import UserError

app = typer.Typer(
    help="Judge responses or dialogues with an LLM: pairwise (A, B or tie on 7 dimensions) "
    "or 1-5 ratings of whole dialogues.",
    no_args_is_help=True,
)

_CONFIG = typer.Option(None, "--config", help="TOML or YAML config; the judge uses [defaults].")
_BACKEND = typer.Option(None, "--backend", help="embedded or openai (overrides the config).")
_BASE_URL = typer.Option(
    None, "--base-url", help="OpenAI-compatible server URL; repeat it for replicas."
)
_MODEL = typer.Option(None, "--model", help="The judge's model; repeat it for several judges.")
_RUNS = typer.Option(1, "--runs", help="Ask every question this many times (self-agreement).")
_ATTEMPTS = typer.Option(3, "--attempts", help="Tries per question before it counts as missing.")
_CONCURRENCY = typer.Option(4, "--concurrency", help="Questions in flight at once.")


def judge_configs(
    config_path: Path | None, backend: str | None, base_url: list[str] | None,
    models: list[str] | None,
) -> list[RoleConfig]:  # fmt: skip
    """One role config per judge, built from the flags exactly as ``generate`` builds its
    roles' (the judge takes the config's ``[defaults]``)."""
    from sweetiechat.cli.generate import _overrides

    if backend is not None and backend not in ("embedded", "openai"):
        raise typer.BadParameter("choose embedded or openai", param_hint="--backend")
    base = load_config(config_path)
    urls = list(base_url or [])
    if urls and backend is None and base.defaults.backend == "embedded":
        raise typer.BadParameter(
            "the judge runs on the embedded model, which has no URL; add --backend openai",
            param_hint="--base-url",
        )
    url: str | list[str] | None = urls[0] if len(urls) == 1 else urls or None
    return [
        _overrides(base, backend, url, m, None).defaults
        for m in (models or [None])  # type: ignore[list-item]
    ]


def _check_counts(runs: int, attempts: int, concurrency: int, limit: int | None) -> None:
    for value, hint in ((runs, "--runs"), (attempts, "--attempts"), (concurrency, "--concurrency")):
        if value < 1:
            raise typer.BadParameter(f"{value}; give at least 1", param_hint=hint)
    if limit is not None and limit < 1:
        raise typer.BadParameter(f"{limit}; give at least 1", param_hint="--limit")


def _sample(things: list[Any], limit: int | None, seed: int) -> list[Any]:
    """At most ``limit`` of ``things``, drawn with ``seed``, in their original order."""
    if limit is None or limit >= len(things):
        return things
    keep = set(random.Random(seed).sample(range(len(things)), limit))
    return [t for i, t in enumerate(things) if i in keep]


def _digest(rows: list[Any]) -> str:
    h = hashlib.sha256()
    for row in rows:
        h.update(json.dumps(row, sort_keys=True, ensure_ascii=False).encode())
        h.update(b"\n")
    return h.hexdigest()[:16]


def _run_judging(
    configs: list[RoleConfig], job: Callable[[dict[str, Any], Any, Any], Awaitable[Any]]
) -> Any:
    """Build the judges, then run ``job(backends, state, on_record)`` with a progress bar;
    returns the finished state."""
    from sweetiechat.eval.judge import JudgeRun
    from sweetiechat.eval.judge_models import build_judges

    judges = build_judges(configs)
    state = JudgeRun()

    async def go() -> None:
        columns = [TextColumn("[bold]judging"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TextColumn("{task.fields[note]}")]  # fmt: skip
        with Progress(*columns, console=err_console) as progress:
            task = progress.add_task("judge", total=None, note="")

            def on_record(_: Any) -> None:
                progress.update(
                    task,
                    total=state.total,
                    completed=state.done + state.written,
                    note=f"{state.missing} missing · {len(state.failures)} failed",
                )

            try:
                await job(judges.backends, state, on_record)
            finally:
                on_record(None)
                await judges.aclose()

    asyncio.run(go())
    return state


def _prepare(configs: list[RoleConfig]) -> None:
    """Fail before anything is written: keys, servers, the local model."""
    from sweetiechat.eval.judge_models import prepare_judges

    with console.status("checking the judges and preparing models ..."):
        prepare_judges(configs)


def _finish(state: Any) -> None:
    for key, reason in list(state.failures.items())[:10]:
        err_console.print(f"[red]failed[/] {escape(key)}: {escape(reason)}", highlight=False)
    if state.failures:
        err_console.print(
            f"[red]{len(state.failures)} question(s) failed[/] and were not recorded; "
            "run the same command again to retry them"
        )
        raise typer.Exit(1)


@app.command("pairwise")
def pairwise(
    a: Path = typer.Argument(..., help="System A: agent-eval generations.jsonl or dialogues."),
    b: Path = typer.Argument(..., help="System B: the same, with the same contexts."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder (resumed if it exists)."),
    config_path: Path | None = _CONFIG,
    backend: str | None = _BACKEND,
    base_url: list[str] | None = _BASE_URL,
    model: list[str] | None = _MODEL,
    runs: int = _RUNS,
    seed: int = typer.Option(0, "--seed", help="Seeds the A/B order of each item and run."),
    limit: int | None = typer.Option(None, "--limit", help="Judge this many items (seeded)."),
    window: int = typer.Option(8, "--window", help="Turns of context shown (0: all)."),
    dimension: list[str] | None = typer.Option(
        None, "--dimension", help="Only these dimensions (repeatable; default all 7)."
    ),
    mode: str = typer.Option(
        "reference", "--mode", help="From agent-eval generations: reference or generated."
    ),
    seed_a: int | None = typer.Option(
        None, "--seed-a", help="From generations of several seeds: the seed to take from A."
    ),
    seed_b: int | None = typer.Option(None, "--seed-b", help="The same for B."),
    attempts: int = _ATTEMPTS,
    concurrency: int = _CONCURRENCY,
) -> None:
    """Compare two systems' responses to the same contexts, on Helpfulness, Understanding,
    Suggestion, Coherence, Informativeness, Empathy and Overall quality (A, B or tie).

    The order the two responses are shown in is drawn per item and run, recorded, and undone;
    position bias is reported. Several --model give several judges and Fleiss' kappa;
    --runs 2 gives each judge's agreement with itself. Writes DIR/judgments.jsonl,
    DIR/summary.json and DIR/win_tie_loss.png.

        sweetiechat judge pairwise ref/generations.jsonl tuned/generations.jsonl -o judged
    """
    from sweetiechat.eval.judge import ajudge_pairs, check_run_folder, read_judgments
    from sweetiechat.eval.judge_dims import DIMENSIONS
    from sweetiechat.eval.judge_dims import dimension as find_dimension
    from sweetiechat.eval.judge_summary import (
        plot_win_tie_loss,
        summarize_pairwise,
        summary_table,
        write_json,
    )
    from sweetiechat.eval.pairs import load_pairs

    _check_counts(runs, attempts, concurrency, limit)
    try:
        dims = [find_dimension(d) for d in dimension] if dimension else list(DIMENSIONS)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--dimension") from None
    configs = judge_configs(config_path, backend, base_url, model)
    if mode not in ("reference", "generated"):
        raise typer.BadParameter("choose reference or generated", param_hint="--mode")
    items = _sample(load_pairs(a, b, mode=mode, seed_a=seed_a, seed_b=seed_b), limit, seed)
    signature = {
        "kind": "pairwise",
        "items": _digest([[i.id, i.response_a, i.response_b] for i in items]),
        "seed": seed,
        "window": window,
        "dimensions": [d.name for d in dims],
    }
    _prepare(configs)
    check_run_folder(out, signature)

    async def job(backends: dict[str, Any], state: Any, on_record: Any) -> None:
        await ajudge_pairs(
            items, backends, out, runs=runs, seed=seed, dimensions=dims, window=window or None,
            attempts=attempts, concurrency=concurrency, on_record=on_record, state=state,
        )  # fmt: skip

    state = _run_judging(configs, job)
    ids = {i.id for i in items}
    judgments = [j for j in read_judgments(out) if j.item in ids]
    summary = summarize_pairwise(judgments, [d.name for d in dims], a=_label(a), b=_label(b))
    write_json(summary, out / "summary.json")
    if judgments:
        plot_win_tie_loss(summary, out / "win_tie_loss.png")
    console.print(summary_table(summary))
    _report_agreement(summary)
    console.print(f"wrote {out}/judgments.jsonl, summary.json, win_tie_loss.png")
    _finish(state)


def _label(path: Path) -> str:
    """A file's name with its folder (agent-eval files are all ``generations.jsonl``)."""
    return f"{path.parent.name}/{path.name}" if path.parent.name else path.name


def _report_agreement(summary: dict[str, Any]) -> None:
    for judge, bias in summary["position_bias"].items():
        b = bias["all"]
        share = "-" if b["first_share"] is None else f"{b['first_share']:.1%}"
        console.print(
            f"position bias of {escape(judge)}: the response shown first won {share} of "
            f"{b['first'] + b['second']} decisive answers (50% = none; p = {b['p_value']:.3g}); "
            f"{b['tie']} ties, {b['missing']} missing"
        )
    for judge, pairs in summary["self_agreement"].items():
        for runs, s in pairs["all"].items():
            kappa = "-" if s["kappa"] != s["kappa"] else f"{s['kappa']:.3f}"
            console.print(
                f"self-agreement of {escape(judge)}, runs {runs}: Cohen's kappa {kappa}, "
                f"same answer {s['agreement']:.1%} of {s['n']}"
            )
    for run, per in summary["fleiss_kappa"].items():
        k = per["all"]["kappa"]
        console.print(
            f"Fleiss' kappa between the {len(summary['judges'])} judges, run {run}: "
            f"{'-' if k != k else f'{k:.3f}'} over {per['all']['n']} questions"
        )


@app.command("agreement")
def agreement(
    first: Path = typer.Argument(..., help="A judgments.jsonl, or the folder holding one."),
    second: Path = typer.Argument(..., help="Another, of the same items."),
) -> None:
    """Agreement between two sets of pairwise judgments of the same items (e.g. two
    invocations of one judge, or people and an LLM): Cohen's kappa per dimension.

        sweetiechat judge agreement judged-1 judged-2
    """
    from rich.table import Table

    from sweetiechat.eval.judge import read_judgments
    from sweetiechat.eval.judge_dims import DIMENSIONS
    from sweetiechat.eval.judge_summary import compare_judgments

    result = compare_judgments(
        read_judgments(first), read_judgments(second), [d.name for d in DIMENSIONS]
    )
    if not result["all"]["n"]:
        raise UserError(
            f"{first} and {second} share no judged question; are they of the same items?"
        )
    table = Table(title=f"Agreement: {first} vs {second}")
    for col in ("dimension", "n", "Cohen's kappa", "same answer"):
        table.add_column(col, justify="left" if col == "dimension" else "right")
    for key, s in result.items():
        kappa = "-" if s["kappa"] != s["kappa"] else f"{s['kappa']:.3f}"
        table.add_row(key, str(s["n"]), kappa, f"{s['agreement']:.1%}")
    console.print(table)


@app.command("dataset")
def dataset(
    file: Path = typer.Argument(..., help="Dialogues in any supported format."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder (resumed if it exists)."),
    config_path: Path | None = _CONFIG,
    backend: str | None = _BACKEND,
    base_url: list[str] | None = _BASE_URL,
    model: list[str] | None = _MODEL,
    runs: int = _RUNS,
    seed: int = typer.Option(0, "--seed", help="Seeds the --limit sample."),
    limit: int | None = typer.Option(None, "--limit", help="Rate this many dialogues (seeded)."),
    max_turns: int = typer.Option(40, "--max-turns", help="Turns shown per dialogue (0: all)."),
    dimension: list[str] | None = typer.Option(
        None, "--dimension", help="Only these dimensions (repeatable; default all 7)."
    ),
    attempts: int = _ATTEMPTS,
    concurrency: int = _CONCURRENCY,
) -> None:
    """Rate whole dialogues 1-5 on Coherence, Consistency, Helpfulness, Informativeness,
    Rationality (of the strategy choices), Understanding and Safety. Writes
    DIR/ratings.jsonl, DIR/summary.json and DIR/ratings.png.

        sweetiechat judge dataset out.jsonl -o rated --backend openai --model gpt-4o-mini
    """
    from sweetiechat.eval.judge import check_run_folder
    from sweetiechat.eval.judge_dataset import ajudge_dataset, read_ratings
    from sweetiechat.eval.judge_dims import DATASET_DIMENSIONS, dataset_dimension
    from sweetiechat.eval.judge_summary import (
        plot_ratings,
        ratings_table,
        summarize_ratings,
        write_json,
    )
    from sweetiechat.io import read_dialogues

    _check_counts(runs, attempts, concurrency, limit)
    try:
        dims = [dataset_dimension(d) for d in dimension] if dimension else list(DATASET_DIMENSIONS)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--dimension") from None
    configs = judge_configs(config_path, backend, base_url, model)
    dialogues = [d for d in read_dialogues(file) if d.turns]
    if not dialogues:
        raise UserError(f"{file}: holds no dialogue with turns to rate")
    seen: set[str] = set()
    for d in dialogues:
        if d.id in seen:
            raise UserError(f"{file}: dialogue id {d.id!r} occurs twice; ids must be unique")
        seen.add(d.id)
    dialogues = _sample(dialogues, limit, seed)
    signature = {
        "kind": "dataset",
        "dialogues": _digest([d.to_record()["turns"] for d in dialogues]),
        "max_turns": max_turns,
        "dimensions": [d.name for d in dims],
    }
    _prepare(configs)
    check_run_folder(out, signature)

    async def job(backends: dict[str, Any], state: Any, on_record: Any) -> None:
        await ajudge_dataset(
            dialogues, backends, out, runs=runs, dimensions=dims, max_turns=max_turns or None,
            attempts=attempts, concurrency=concurrency, on_record=on_record, state=state,
        )  # fmt: skip

    state = _run_judging(configs, job)
    ids = {d.id for d in dialogues}
    ratings = [r for r in read_ratings(out) if r.dialogue in ids]
    summary = summarize_ratings(ratings, [d.name for d in dims])
    summary["file"] = str(file)
    write_json(summary, out / "summary.json")
    if ratings:
        plot_ratings(summary, out / "ratings.png")
    console.print(ratings_table(summary))
    for judge, pairs in summary["self_agreement"].items():
        for run_pair, s in pairs.items():
            console.print(
                f"self-agreement of {escape(judge)}, runs {run_pair}: same rating "
                f"{s['agreement']:.1%}, within 1 point {s['within_1']:.1%} of {s['n']}"
            )
    for run, k in summary["fleiss_kappa"].items():
        console.print(f"Fleiss' kappa between the judges, run {run}: {k['kappa']:.3f} ({k['n']})")
    console.print(f"wrote {out}/ratings.jsonl, summary.json, ratings.png")
    _finish(state)


def register(root: typer.Typer) -> None:
    """Add the ``judge`` command group to ``root``."""
    root.add_typer(app, name="judge")
