"""``sweetiechat quality``: placeholder, being written (see docs)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to app (none yet)."""
