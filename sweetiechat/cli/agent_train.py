"""``sweetiechat agent train``: fine-tune an emotional-support agent on dialogues with LoRA
(see docs/agent.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from sweetiechat.cli._common import console
from sweetiechat.cli.train_options import (
    BatchSize,
    Epochs,
    EvalSteps,
    LearningRate,
    LoraRank,
    MaxSteps,
    Patience,
    Quiet,
    Resume,
    Seed,
    WarmupRatio,
    validated,
)
from sweetiechat.errors import UserError

_ROLES = ("supporter", "seeker")


def train(
    data: list[Path] | None = typer.Option(
        None,
        "--data",
        help="Training dialogues: generated .jsonl, ESConv .json, or several (repeat --data).",
    ),
    valid: list[Path] | None = typer.Option(
        None, "--valid", help="Validation dialogues (default: 5% of --data held out)."
    ),
    base_model: str | None = typer.Option(
        None, "--base-model", help="Local model folder, or 'embedded' (SmolLM2; the default)."
    ),
    out: Path = typer.Option(..., "--out", help="Output folder (the adapter, config, metrics)."),
    role: str | None = typer.Option(
        None, "--role", help="supporter (default) or seeker (trained role-reversed)."
    ),
    with_strategy: bool = typer.Option(
        False, "--with-strategy", help="Targets start with the strategy: '[Question] ...'."
    ),
    resume: Resume = False,
    seeds: int | None = typer.Option(
        None,
        "--seeds",
        help="Train N seeds (--seed, --seed + 1, ...) into OUT/seed-N/ (mean ± std; default 1).",
    ),
    seed: Seed = None,
    max_steps: MaxSteps = None,
    max_minutes: float | None = typer.Option(
        None, "--max-minutes", help="Stop after N minutes (evaluating and saving first)."
    ),
    limit: int | None = typer.Option(
        None, "--limit", help="Only the first N dialogues of each --data file."
    ),
    valid_limit: int | None = typer.Option(
        None, "--valid-limit", help="Only the first N validation dialogues."
    ),
    max_length: int | None = typer.Option(
        None, "--max-length", help="Tokens per example (1024); longer history is cut."
    ),
    lr: LearningRate = None,
    epochs: Epochs = None,
    batch_size: BatchSize = None,
    grad_accum: int | None = typer.Option(
        None, "--grad-accum", help="Micro-batches per optimizer step (default 1)."
    ),
    warmup_ratio: WarmupRatio = None,
    eval_steps: EvalSteps = None,
    patience: Patience = None,
    lora_r: LoraRank = None,
    gradient_checkpointing: bool = typer.Option(
        False, "--gradient-checkpointing", help="Save memory at the cost of compute."
    ),
    quiet: Quiet = False,
) -> None:
    """Fine-tune an agent (LoRA, loss on its own turns only) on dialogues.

    Example: sweetiechat agent train --data esconv/train.json --valid esconv/valid.json
    --base-model embedded --out runs/agent
    """
    from sweetiechat.trainer.agent import train_agent

    if role is not None and role not in _ROLES:
        raise UserError(f"--role {role!r}: choose supporter or seeker")
    given: dict[str, Any] = {
        "data": [str(p) for p in data] if data else None,
        "valid_data": [str(p) for p in valid] if valid else None,
        "out_dir": str(out),
        "base_model": base_model,
        "role": role,
        "with_strategy": True if with_strategy else None,
        "seeds": seeds,
        "seed": seed,
        "max_steps": max_steps,
        "max_minutes": max_minutes,
        "limit": limit,
        "valid_limit": valid_limit,
        "max_length": max_length,
        "learning_rate": lr,
        "epochs": epochs,
        "batch_size": batch_size,
        "gradient_accumulation_steps": grad_accum,
        "warmup_ratio": warmup_ratio,
        "eval_steps": eval_steps,
        "patience": patience,
        "lora_r": lora_r,
        "gradient_checkpointing": True if gradient_checkpointing else None,
    }
    given = {k: v for k, v in given.items() if v is not None}
    config = _resumed_config(out, given) if resume else None
    if config is None:
        if "data" not in given:
            raise UserError("--data is required (unless --resume continues a run)")
        config = _validated(given)
    result = train_agent(config, resume=resume, progress=not quiet)
    if os.environ.get("RANK", "0") != "0":  # under accelerate/torchrun: the main one prints
        return
    for folder, metrics in zip(result.out_dirs, result.metrics, strict=True):
        _print_training(folder, metrics)


def _validated(data: dict[str, Any]) -> Any:
    from sweetiechat.trainer.agent_config import AgentTrainConfig

    return validated(AgentTrainConfig, data)


def _resumed_config(out: Path, given: dict[str, Any]) -> Any:
    """The saved config of the run in ``out``, with the flags given now applied on top;
    ``None`` when there is nothing saved (the run then says why it cannot resume)."""
    saved_file = out / "training_config.json"
    if not saved_file.is_file():
        return None
    saved = json.loads(saved_file.read_text(encoding="utf-8"))
    saved.update(given)
    return _validated(saved)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _print_training(out: Path, metrics: dict[str, Any]) -> None:
    t = metrics["train"]
    enc = t["encoding"]["train"]
    table = Table(title=f"Agent training: {escape(str(out))}")
    table.add_column("")
    table.add_column("value", justify="right")
    table.add_row("role", t["role"])
    table.add_row("base model", escape(str(t["base_model"])))
    table.add_row("dialogues (train/valid)", f"{t['dialogues']['train']}/{t['dialogues']['valid']}")
    table.add_row("examples (train/valid)", f"{t['examples']['train']}/{t['examples']['valid']}")
    table.add_row("target turns", str(enc["targets"]))
    table.add_row("examples with history cut", f"{enc['cut_examples']} ({enc['cut_turns']} turns)")
    table.add_row("over-long targets cut", str(enc["truncated_targets"]))
    table.add_row("steps", str(t["steps"]))
    table.add_row("seconds per step", _fmt(t["seconds_per_step"]))
    table.add_row("tokens per second", _fmt(t["tokens_per_second"]))
    table.add_row("best eval loss", _fmt(t["best_eval_loss"]))
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``train`` to the ``agent`` group."""
    app.command("train")(train)
