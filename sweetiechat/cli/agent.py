"""``sweetiechat agent train`` and ``sweetiechat agent eval``: fine-tune an emotional-support
agent on dialogues and evaluate it on ESConv (see docs/agent.md)."""

from __future__ import annotations

import typer

from sweetiechat.cli import agent_eval, agent_train

app = typer.Typer(
    help="Fine-tune an emotional-support agent (SFT) and evaluate it on ESConv.",
    no_args_is_help=True,
)
agent_train.register(app)
agent_eval.register(app)


def register(root: typer.Typer) -> None:
    """Add the ``agent`` command group to ``root``."""
    root.add_typer(app, name="agent")
