"""``sweetiechat stats``: dataset statistics as rich tables or JSON."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from sweetiechat.cli._common import console, err_console
from sweetiechat.errors import UserError
from sweetiechat.io import NotDialogueFileError, read_dialogues
from sweetiechat.metrics.stats import DatasetStats, compute_stats
from sweetiechat.tokenizers import Tokenizer, default_tokenizer, get_tokenizer


def resolve_tokenizer(name: str | None) -> Tokenizer:
    """The named tokenizer, or the default (Llama-3 when quicktok-v1 is installed)."""
    return default_tokenizer() if name is None else get_tokenizer(name)


def print_stats(s: DatasetStats) -> None:
    """Render one file's statistics as two tables."""
    norm = ", ".join(s.normalisation) or "none"
    table = Table(
        "",
        "all",
        "seeker",
        "supporter",
        title=f"{s.file}  (tokenizer: {s.tokenizer}; normalisation: {norm})",
    )
    seeker, supporter = s.roles["seeker"], s.roles["supporter"]
    table.add_row("dialogues", f"{s.dialogues:,}", "", "")
    table.add_row(
        "utterances", f"{s.utterances:,}", f"{seeker.utterances:,}", f"{supporter.utterances:,}"
    )
    table.add_row(
        "utterances per dialogue",
        f"{s.avg_utterances_per_dialogue:.2f}",
        f"{seeker.avg_per_dialogue:.2f}",
        f"{supporter.avg_per_dialogue:.2f}",
    )
    table.add_row(
        "tokens per utterance (per-utterance form)",
        f"{s.avg_utterance_tokens:.2f}",
        f"{seeker.avg_tokens:.2f}",
        f"{supporter.avg_tokens:.2f}",
    )
    p = s.paper
    table.add_row(
        "tokens per utterance (paper form)",
        f"{p.avg_utterance_tokens:.2f}",
        "",
        "",
    )
    table.caption = (
        f"paper form: raw dialogues, each one text of 'speaker: text' lines; "
        f"{p.tokens:,} tokens / {p.utterances:,} utterances (see docs/esconv.md)"
    )
    console.print(table)
    strat = Table("strategy", "count", "share", title="Supporter strategies")
    shares = s.strategy_shares
    for name, count in sorted(s.strategies.items(), key=lambda kv: -kv[1]):
        strat.add_row(name, f"{count:,}", f"{100 * shares[name]:.2f}%")
    if sum(s.strategies.values()) == 0:
        strat.caption = "no supporter turn has a strategy"
    console.print(strat)


def stats(
    files: list[Path] = typer.Argument(..., help="Dialogue files (sweetiechat or ESConv format)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list, one object per file."),
    total: bool = typer.Option(
        False,
        "--total",
        help="With --json, add an object for all files together "
        "(tables show it whenever there are several files).",
    ),
    tokenizer: str | None = typer.Option(
        None, "--tokenizer", help="llama3, word or whitespace (default: llama3 if installed)."
    ),
    merge_consecutive: bool = typer.Option(
        False, "--merge-consecutive", help="Merge consecutive utterances of one speaker."
    ),
    drop_greetings: bool = typer.Option(
        False, "--drop-greetings", help="Drop the opening greetings of each dialogue."
    ),
) -> None:
    """Dialogues, utterances and lengths (overall and per role), and strategy shares.

    Tokens per utterance are shown in two forms: per utterance (each utterance on its own,
    after --merge-consecutive/--drop-greetings), and the paper's form (each raw dialogue as one
    text of 'speaker: text' lines), which gives the paper's 21.17 on all of ESConv:

        sweetiechat stats ../shared/data/esconv/{train,valid,test}.json
    """
    tok = resolve_tokenizer(tokenizer)
    results = []
    for path in files:
        try:
            results.append(
                compute_stats(
                    read_dialogues(path),
                    tok,
                    label=str(path),
                    merge_consecutive=merge_consecutive,
                    drop_greetings=drop_greetings,
                )
            )
        except NotDialogueFileError as err:
            err_console.print(f"[yellow]skipped[/] {escape(str(err))}", highlight=False)
    if not results:
        raise UserError("none of the files holds dialogues")
    if len(results) > 1 and (total or not as_json):
        kept = [Path(r.file) for r in results]
        results.append(
            compute_stats(
                (d for path in kept for d in read_dialogues(path)),
                tok,
                label=f"total ({len(kept)} files)",
                merge_consecutive=merge_consecutive,
                drop_greetings=drop_greetings,
            )
        )
    if as_json:
        typer.echo(json.dumps([r.model_dump() for r in results], indent=2))
        return
    for r in results:
        print_stats(r)


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""
    app.command("stats")(stats)
