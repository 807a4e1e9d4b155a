"""The ``sweetiechat`` command: a thin layer over the library."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from sweetiechat._version import __version__
from sweetiechat.cli import data, info, stats
from sweetiechat.cli._common import err_console
from sweetiechat.errors import UserError

__all__ = ["app", "main"]

app = typer.Typer(
    name="sweetiechat",
    help="Build emotional-support agents by strategy-guided role-play: generate, analyse and "
    "score dialogues, train and evaluate the strategy counselor, check messages for crisis risk.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sweetiechat {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """sweetiechat: strategy-guided role-play for emotional-support agents."""


app.add_typer(data.app, name="data")
stats.register(app)
info.register(app)


def _register_optional() -> None:
    # Commands added by later modules register themselves here; imported lazily so that
    # `sweetiechat --help` stays fast.
    from sweetiechat.cli import analyze, generate

    generate.register(app)
    analyze.register(app)
    from sweetiechat.cli import counselor

    counselor.register(app)
    from sweetiechat.cli import safety as safety_cli

    safety_cli.register(app)
    # Quality control (clean, recognizer), the agent (train, eval), chat, judge and web.
    from sweetiechat.cli import agent, chat, clean, judge, quality, web

    for module in (clean, quality, agent, chat, judge, web):
        module.register(app)


_register_optional()


def main() -> None:
    """Entry point of the console script: expected mistakes become one-line errors."""
    try:
        app()
    except UserError as err:
        err_console.print(
            f"[bold red]error:[/] {escape(str(err))}", highlight=False, soft_wrap=True
        )
        sys.exit(2)
