"""``sweetiechat generate`` (filled in by the role-play engine)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""
