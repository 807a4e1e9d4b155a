"""Flags that ``sweetiechat agent train`` and ``sweetiechat counselor train`` share, written
once (``Annotated`` types for typer), and the validation of the settings they make up."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from sweetiechat.errors import UserError

__all__ = [
    "BatchSize",
    "Epochs",
    "EvalSteps",
    "LearningRate",
    "LoraRank",
    "MaxSteps",
    "Patience",
    "Quiet",
    "Resume",
    "Seed",
    "WarmupRatio",
    "validated",
]

Resume = Annotated[
    bool, typer.Option("--resume", help="Continue the run in --out from its newest checkpoint.")
]
MaxSteps = Annotated[int | None, typer.Option("--max-steps", help="Stop after N steps.")]
Seed = Annotated[int | None, typer.Option("--seed", help="Random seed (default 42).")]
LearningRate = Annotated[
    float | None, typer.Option("--lr", help="Peak learning rate (default 3e-5).")
]
Epochs = Annotated[float | None, typer.Option("--epochs", help="Epochs (default 5).")]
BatchSize = Annotated[int | None, typer.Option("--batch-size", help="Batch size (default 2).")]
WarmupRatio = Annotated[
    float | None,
    typer.Option("--warmup-ratio", help="Share of steps warming up linearly (default 0.01)."),
]
EvalSteps = Annotated[
    int | None,
    typer.Option(
        "--eval-steps", help="Evaluate on valid and save a checkpoint every N steps (500)."
    ),
]
Patience = Annotated[
    int | None,
    typer.Option("--patience", help="Stop after N evaluations without improvement (7; 0: never)."),
]
LoraRank = Annotated[int | None, typer.Option("--lora-r", help="LoRA rank (8; LoRA runs only).")]
Quiet = Annotated[bool, typer.Option("--quiet", help="No progress display.")]


def validated(cls: Any, data: dict[str, Any]) -> Any:
    """``cls.model_validate(data)``, a pydantic problem turned into a one-line ``UserError``
    naming the setting."""
    from pydantic import ValidationError

    from sweetiechat.errors import first_problem

    try:
        return cls.model_validate(data)
    except ValidationError as err:
        field, message = first_problem(err, "")
        raise UserError(f"setting {field}: {message}" if field else message) from None
