"""``sweetiechat data``: import, export, validate and normalise dialogue files."""

from __future__ import annotations

import warnings
from pathlib import Path

import typer
from rich.markup import escape

from sweetiechat.cli._common import console, err_console
from sweetiechat.errors import UserError
from sweetiechat.io import DataError, read_dialogues, read_located, write_dialogues
from sweetiechat.normalize import normalise

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

    Exits 0 when the file is valid, 1 when any record is bad. With --alternating, a dialogue
    with consecutive turns by one role is bad too; `sweetiechat data merge-consecutive`
    writes the merged, alternating form.
    """
    unreadable: list[DataError] = []
    not_alternating: list[DataError] = []
    count = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for line, dialogue in read_located(path, on_error=unreadable.append):
            count += 1
            if alternating and not dialogue.alternates:
                turns = dialogue.turns
                first = next(i for i in range(1, len(turns)) if turns[i].role == turns[i - 1].role)
                where = f"dialogue {dialogue.id!r}" + ("" if line else f" (record {count})")
                not_alternating.append(
                    DataError(
                        path,
                        line,
                        f"{where}: turns {first} and {first + 1} are both by the "
                        f"{turns[first].role}; merge them (sweetiechat data merge-consecutive)",
                    )
                )
    for w in caught:
        err_console.print(f"[yellow]warning:[/] {escape(str(w.message))}", highlight=False)
    for problem in [*unreadable, *not_alternating]:
        err_console.print(f"[red]{escape(str(problem))}[/]", highlight=False, soft_wrap=True)
    bad = len(unreadable) + len(not_alternating)
    if bad:
        parts = [f"{len(unreadable)} unreadable"] if unreadable else []
        parts += [f"{len(not_alternating)} not alternating"] if not_alternating else []
        err_console.print(
            f"{path}: {bad} bad record(s) ({', '.join(parts)}), "
            f"{count - len(not_alternating)} valid dialogue(s)"
        )
        raise typer.Exit(1)
    console.print(f"{path}: {count} valid dialogue(s)")


@app.command("merge-consecutive")
def merge_consecutive(
    path: Path = typer.Argument(..., help="A dialogue file in any supported format."),
    out: Path = typer.Option(..., "-o", "--out", help="Where to write sweetiechat JSON lines."),
    drop_greetings: bool = typer.Option(
        False, "--drop-greetings", help="Also drop the opening greeting turns."
    ),
) -> None:
    """Write the merged, alternating form: consecutive turns of one role joined into one
    (a merged supporter turn keeps the strategy of its first part, as ESConv does).

        sweetiechat data merge-consecutive ../shared/data/esconv/test.json -o test.merged.jsonl
    """
    if out.exists() and out.resolve() == path.resolve():
        raise UserError(f"{out}: the output would overwrite the input; choose another -o")
    tmp = out.with_name(out.name + ".tmp")
    tmp.unlink(missing_ok=True)
    dialogues = (
        normalise(d, merge_consecutive=True, drop_greetings=drop_greetings)
        for d in read_dialogues(path)
    )
    try:
        count = write_dialogues(tmp, dialogues)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(out)  # all or nothing: a bad record leaves no half-written output
    console.print(f"wrote {count} alternating dialogues to {out}")


@app.command("merge")
def merge(
    out: Path = typer.Argument(..., help="The merged output file."),
    shards: list[Path] = typer.Argument(..., help="The shard outputs (every shard of one run)."),
    force: bool = typer.Option(False, "--force", help="Replace OUT if it already exists."),
) -> None:
    """Merge the shards of one run (`generate --shard K/N`) into one file, in index order.

    Checks that the shards come from one run (same seed, n and data settings), that no id
    appears twice, and which dialogues are missing; with missing ones nothing is written and
    the message says how to resume each shard.

        sweetiechat data merge data.jsonl data.1.jsonl data.2.jsonl
    """
    from sweetiechat.shards import merge_shards

    if out.exists() and out.stat().st_size > 0 and not force:
        raise UserError(f"{out} already exists; pass --force to replace it, or choose another")
    report = merge_shards(out, list(shards))
    console.print(f"merged {report.written} of {report.n} dialogues into {out}")
