"""``sweetiechat agent train``: placeholder, being written (see docs/agent.md)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's command to the ``agent`` group (none yet)."""
