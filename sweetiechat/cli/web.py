"""``sweetiechat web``: the human-evaluation web app and its admin commands.

``sweetiechat web --db eval.sqlite`` serves the app (127.0.0.1:8000 by default) and prints the
admin link; ``sweetiechat web --db eval.sqlite load-pairs A B``, ``load-dataset``,
``add-annotator``, ``import-judgments``, ``export`` and ``results`` work on the same database
from the shell.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from sweetiechat.cli._common import console, err_console
from sweetiechat.errors import UserError

__all__ = ["register"]

ADMIN_ENV = "SWEETIECHAT_WEB_ADMIN_TOKEN"

web_app = typer.Typer(
    help="The web app for human evaluation: pairwise comparisons, dataset ratings, and a chat "
    "page (needs the web extra: pip install 'sweetiechat\\[web]').",
    no_args_is_help=False,
)


def _store(ctx: typer.Context, db: Path | None) -> Any:
    from sweetiechat.web.store import Store

    path = db or (ctx.obj or {}).get("db")
    if path is None:
        raise UserError("give the database with --db FILE (e.g. sweetiechat web --db eval.sqlite)")
    return Store(path)


_DB = typer.Option(None, "--db", help="The SQLite database (created when missing).")


def _chat_factory(model: str, adapter: Path | None, counselor: Path | None) -> Any:
    try:
        from sweetiechat.chat import open_chat  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        err_console.print("[yellow]note:[/] sweetiechat.chat is not available; no chat page")
        return None

    def factory() -> Any:
        return open_chat(model=model, adapter=adapter, counselor=counselor)

    return factory


@web_app.callback(invoke_without_command=True)
def serve(
    ctx: typer.Context,
    db: Path | None = _DB,
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    admin_token: str | None = typer.Option(
        None, envvar=ADMIN_ENV, help=f"The admin's secret (or ${ADMIN_ENV}); random if unset."
    ),
    model: str = typer.Option("embedded", help="The chat page's model: a path or 'embedded'."),
    adapter: Path | None = typer.Option(None, help="A fine-tuned agent adapter for the chat."),
    counselor: Path | None = typer.Option(None, help="A trained counselor for the chat."),
    no_chat: bool = typer.Option(False, "--no-chat", help="Serve without the chat page."),
) -> None:
    """Serve the app; the admin link (with its token) is printed once at startup."""
    ctx.obj = {"db": db}
    if ctx.invoked_subcommand is not None:
        return
    from sweetiechat.web.app import create_app, require_web

    require_web()
    import secrets

    import uvicorn

    store = _store(ctx, db)
    token = admin_token or secrets.token_urlsafe(24)
    factory = None if no_chat else _chat_factory(model, adapter, counselor)
    app = create_app(store, admin_token=token, chat_factory=factory)
    shown = "[set]" if admin_token else token
    console.print(f"sweetiechat web on http://{host}:{port} (database {escape(str(store.path))})")
    console.print(f"admin: http://{host}:{port}/admin?token={shown}", highlight=False)
    # No access log: the personal links in request lines carry annotators' tokens.
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning")


@web_app.command("load-pairs")
def load_pairs_cmd(
    ctx: typer.Context,
    a: Path = typer.Argument(..., help="System A: agent-eval generations.jsonl or dialogues."),
    b: Path = typer.Argument(..., help="System B: the same contexts."),
    name: str | None = typer.Option(None, help="The task's name (default: 'A vs B')."),
    mode: str = typer.Option(
        "reference", help="Generations of this context mode (reference or generated)."
    ),
    seed_a: int | None = typer.Option(None, help="A's seed, when its file holds several."),
    seed_b: int | None = typer.Option(None, help="B's seed, when its file holds several."),
    db: Path | None = _DB,
) -> None:
    """Load two systems' responses to the same contexts as a pairwise task."""
    from sweetiechat.web.loading import load_pair_files

    store = _store(ctx, db)
    task_id = load_pair_files(store, a, b, name, mode=mode, seed_a=seed_a, seed_b=seed_b)
    task = store.task(task_id)
    assert task is not None
    console.print(f"pairwise task {escape(task.name)!r}: {task.items} items")


@web_app.command("load-dataset")
def load_dataset_cmd(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="Dialogues in any supported format."),
    name: str | None = typer.Option(None, help="The task's name (default: the file's stem)."),
    db: Path | None = _DB,
) -> None:
    """Load dialogues as a dataset-rating task (1-5 on each dataset dimension)."""
    from sweetiechat.web.loading import load_dataset_file

    store = _store(ctx, db)
    task = store.task(load_dataset_file(store, file, name))
    assert task is not None
    console.print(f"dataset task {escape(task.name)!r}: {task.items} dialogues")


@web_app.command("add-annotator")
def add_annotator_cmd(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The annotator's name (unique)."),
    base_url: str = typer.Option("http://127.0.0.1:8000", help="Where the app is served."),
    db: Path | None = _DB,
) -> None:
    """Add an annotator and print their personal link."""
    who = _store(ctx, db).add_annotator(name)
    typer.echo(f"{base_url.rstrip('/')}/annotate/{who.token}")


@web_app.command("import-judgments")
def import_judgments_cmd(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="judgments.jsonl from sweetiechat judge pairwise."),
    task: str | None = typer.Option(None, help="The pairwise task (default: the newest)."),
    db: Path | None = _DB,
) -> None:
    """Import an LLM judge's judgments, to measure its agreement with the annotators."""
    from sweetiechat.web.loading import import_judgments

    n = import_judgments(_store(ctx, db), file, task)
    console.print(f"imported {n} judgments")


@web_app.command("export")
def export_cmd(
    ctx: typer.Context,
    fmt: str = typer.Option("jsonl", "--format", help="jsonl or csv."),
    out: Path = typer.Option(..., "--out", help="The file to write."),
    db: Path | None = _DB,
) -> None:
    """Export every answer (pairwise ones in the LLM judge's judgments format)."""
    from sweetiechat.web.loading import write_export

    if fmt not in ("jsonl", "csv"):
        raise UserError(f"--format must be jsonl or csv, not {fmt!r}")
    n = write_export(_store(ctx, db), out, fmt)  # type: ignore[arg-type]
    console.print(f"wrote {n} answers to {escape(str(out))}")


@web_app.command("export-chats")
def export_chats_cmd(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="The dialogue file to write (JSONL)."),
    db: Path | None = _DB,
) -> None:
    """Export the chat page's transcripts as dialogues in sweetiechat's format."""
    from sweetiechat.web.loading import export_chats

    n = export_chats(_store(ctx, db), out)
    console.print(f"wrote {n} chat transcripts to {escape(str(out))}")


@web_app.command("results")
def results_cmd(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="Folder for the plots."),
    db: Path | None = _DB,
) -> None:
    """Print each task's results and write its plot (task-<id>.png) under --out."""
    from rich.table import Table

    from sweetiechat.web.results import plot_task, task_results

    store = _store(ctx, db)
    out.mkdir(parents=True, exist_ok=True)
    for task in store.tasks():
        res = task_results(store, task.id)
        table = Table(title=f"{task.name} ({res.annotators} annotators)")
        for col in ("dimension", "A/tie/B" if task.kind == "pairwise" else "mean", "Fleiss κ"):
            table.add_column(col)
        for dim, (kappa, n_items, _) in res.kappa.items():
            if task.kind == "pairwise":
                w = res.win_tie_loss[dim]
                cell = f"{w.win}/{w.tie}/{w.loss}"
            else:
                cell = f"{res.mean_rating.get(dim, float('nan')):.2f}"
            table.add_row(dim, cell, f"{kappa:.2f}" if n_items else "-")
        console.print(table)
        if res.answered_items:
            plot_task(store, task.id, out / f"task-{task.id}.png")


def register(app: typer.Typer) -> None:
    """Add ``sweetiechat web`` and its admin commands to app."""
    app.add_typer(web_app, name="web")
