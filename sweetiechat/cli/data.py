"""``sweetiechat data``: import, export and validate dialogue files."""

from __future__ import annotations

import warnings
from pathlib import Path

import typer
from rich.markup import escape

from sweetiechat.cli._common import console, err_console
from sweetiechat.io import DataError, read_dialogues, write_dialogues

app = typer.Typer(help="Import, export and validate dialogue files.", no_args_is_help=True)


@app.command("import-esconv")
def import_esconv(
    path: Path = typer.Argument(..., help="ESConv.json (original) or a JSON-lines split file."),
    out: Path = typer.Option(..., "-o", "--out", help="Where to write sweetiechat JSON lines."),
) -> None:
    """Convert ESConv (either published format) to sweetiechat's JSON-lines form.

    Emotion type, situation (as the scenario) and survey scores are kept in each dialogue.
    """
    count = write_dialogues(out, read_dialogues(path))
    console.print(f"wrote {count} dialogues to {out}")


@app.command("export-esconv")
def export_esconv(
    path: Path = typer.Argument(..., help="A sweetiechat JSON-lines file."),
    out: Path = typer.Option(..., "-o", "--out", help="Where to write ESConv JSON lines."),
) -> None:
    """Write dialogues in ESConv's JSON-lines form (speaker usr/sys, strategy on sys turns)."""
    count = write_dialogues(out, read_dialogues(path), esconv=True)
    console.print(f"wrote {count} dialogues to {out}")


@app.command("validate")
def validate(
    path: Path = typer.Argument(..., help="The file to check."),
    alternating: bool = typer.Option(
        False, "--alternating", help="Also require seeker and supporter turns to alternate."
    ),
) -> None:
    """Check every record of a file; print each problem as FILE:LINE: message.

    Exits 0 when the file is valid, 1 when any record is bad.
    """
    problems: list[DataError] = []
    count = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for number, dialogue in enumerate(read_dialogues(path, on_error=problems.append), 1):
            count += 1
            if alternating and not dialogue.alternates:
                problems.append(
                    DataError(
                        path,
                        None,
                        f"dialogue {dialogue.id!r} (record {number}): "
                        "consecutive turns by one role; merge them",
                    )
                )
    for w in caught:
        err_console.print(f"[yellow]warning:[/] {escape(str(w.message))}", highlight=False)
    for problem in problems:
        err_console.print(f"[red]{escape(str(problem))}[/]", highlight=False, soft_wrap=True)
    if problems:
        err_console.print(f"{len(problems)} bad record(s), {count} valid dialogue(s)")
        raise typer.Exit(1)
    console.print(f"{path}: {count} valid dialogue(s)")
