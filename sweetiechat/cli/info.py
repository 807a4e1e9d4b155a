"""``sweetiechat strategies`` and ``sweetiechat problem-types``: the taxonomy, printed."""

from __future__ import annotations

import typer
from rich.table import Table

from sweetiechat.cli._common import console
from sweetiechat.taxonomy import CATEGORIES, PROBLEM_TYPE_WEIGHTS, Strategy


def strategies() -> None:
    """List the 8 support strategies with their meanings."""
    table = Table("strategy", "meaning", title="Support strategies (ESConv)")
    for s in Strategy:
        table.add_row(s.value, s.definition)
    console.print(table)


def problem_types() -> None:
    """List the 45 problem types, their categories and default sampling weights."""
    table = Table("category", "problem type", "weight", title="Problem types")
    for category, members in CATEGORIES.items():
        for p in members:
            table.add_row(category, p.value, str(PROBLEM_TYPE_WEIGHTS[p]))
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the commands to ``app``."""
    app.command("strategies")(strategies)
    app.command("problem-types")(problem_types)
