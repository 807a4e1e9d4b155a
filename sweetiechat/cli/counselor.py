"""``sweetiechat counselor train`` and ``sweetiechat counselor eval``: make a strategy
counselor and measure it (see docs/training.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from sweetiechat.cli._common import console, err_console
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

app = typer.Typer(
    help="Train a strategy counselor (lm or classifier) and evaluate any counselor.",
    no_args_is_help=True,
)

_KINDS = ("lm", "classifier")
_WEIGHTS = ("none", "balanced", "sqrt")


def _choice(value: str | None, options: tuple[str, ...], flag: str) -> str | None:
    if value is not None and value not in options:
        raise UserError(f"{flag} {value!r}: choose one of {', '.join(options)}")
    return value


@app.command("train")
def train(
    kind: str | None = typer.Option(
        None, "--kind", help="lm (causal LM + LoRA, the paper's) or classifier (encoder + head)."
    ),
    data: Path | None = typer.Option(
        None, "--data", help="Folder with train, valid and test (.json ESConv splits or .jsonl)."
    ),
    base_model: str | None = typer.Option(
        None,
        "--base-model",
        help="Local model folder. Default: embedded SmolLM2 (lm), MiniLM (classifier).",
    ),
    out: Path = typer.Option(
        ..., "--out", help="Output folder (adapter or model, config, metrics)."
    ),
    resume: Resume = False,
    max_steps: MaxSteps = None,
    limit: int | None = typer.Option(
        None, "--limit", help="Only the first N dialogues of each split."
    ),
    class_weights: str | None = typer.Option(
        None, "--class-weights", help="none, balanced or sqrt: weigh rare strategies up."
    ),
    seed: Seed = None,
    lr: LearningRate = None,
    epochs: Epochs = None,
    batch_size: BatchSize = None,
    eval_batch_size: int | None = typer.Option(
        None, "--eval-batch-size", help="Evaluation batch size (default 8)."
    ),
    warmup_ratio: WarmupRatio = None,
    weight_decay: float | None = typer.Option(None, "--weight-decay", help="AdamW weight decay."),
    eval_steps: EvalSteps = None,
    patience: Patience = None,
    metric: str | None = typer.Option(
        None, "--metric", help="Best-model metric: loss, macro_f1, accuracy, weighted_f1."
    ),
    window: int | None = typer.Option(
        None, "--window", help="lm: utterances of history in the prompt (6)."
    ),
    lora_r: LoraRank = None,
    input_window: int | None = typer.Option(
        None, "--input-window", help="classifier: utterances of history (6; 0: all)."
    ),
    max_length: int | None = typer.Option(
        None, "--max-length", help="classifier: tokens per input (256)."
    ),
    no_problem_type: bool = typer.Option(
        False, "--no-problem-type", help="classifier: leave the problem type out of the input."
    ),
    no_emotion: bool = typer.Option(
        False, "--no-emotion", help="classifier: leave the seeker's emotion out of the input."
    ),
    no_strategies: bool = typer.Option(
        False, "--no-strategies", help="classifier: don't tag earlier turns with strategies."
    ),
    no_final_eval: bool = typer.Option(
        False, "--no-final-eval", help="Skip scoring the best model on valid and test."
    ),
    quiet: Quiet = False,
) -> None:
    """Train a strategy counselor on ESConv-format dialogues.

    Example: sweetiechat counselor train --kind classifier --data esconv/ --out runs/cls
    """
    from sweetiechat.trainer.config import CounselorTrainConfig
    from sweetiechat.trainer.counselor import train_counselor

    _choice(kind, _KINDS, "--kind")
    _choice(class_weights, _WEIGHTS, "--class-weights")
    given: dict[str, Any] = {
        "kind": kind,
        "data_dir": str(data) if data else None,
        "base_model": base_model,
        "out_dir": str(out),
        "max_steps": max_steps,
        "limit": limit,
        "class_weights": class_weights,
        "seed": seed,
        "learning_rate": lr,
        "epochs": epochs,
        "batch_size": batch_size,
        "eval_batch_size": eval_batch_size,
        "warmup_ratio": warmup_ratio,
        "weight_decay": weight_decay,
        "eval_steps": eval_steps,
        "patience": patience,
        "metric": metric,
        "window": window,
        "lora_r": lora_r,
        "final_eval": False if no_final_eval else None,
    }
    given = {k: v for k, v in given.items() if v is not None}
    inputs: dict[str, Any] = {"window": input_window, "max_length": max_length}
    inputs |= {"problem_type": False} if no_problem_type else {}
    inputs |= {"emotion": False} if no_emotion else {}
    inputs |= {"strategies": False} if no_strategies else {}
    inputs = {k: v for k, v in inputs.items() if v is not None}
    config = _resumed_config(out, given, inputs) if resume else None
    if config is None:
        for flag, key in (("--kind", "kind"), ("--data", "data_dir")):
            if key not in given:
                raise UserError(f"{flag} is required (unless --resume continues a run)")
        given["input"] = inputs
        config = validated(CounselorTrainConfig, given)
    result = train_counselor(config, resume=resume, progress=not quiet)
    _print_training(result.out_dir, result.metrics)


def _resumed_config(out: Path, given: dict[str, Any], inputs: dict[str, Any]) -> Any:
    """The saved config of the run in ``out``, with the flags given now applied on top."""
    import json

    from sweetiechat.agents.trained import read_counselor_folder
    from sweetiechat.trainer.config import CounselorTrainConfig

    info = read_counselor_folder(out, expect_kind=given.get("kind"))
    saved = json.loads((out / "training_config.json").read_text(encoding="utf-8"))
    if saved.get("kind") != info.kind:
        raise UserError(f"{out}/training_config.json disagrees with counselor.json; retrain")
    saved.update(given)
    saved["input"] = {**saved.get("input", {}), **inputs}
    return validated(CounselorTrainConfig, saved)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _print_training(out: Path, metrics: dict[str, Any]) -> None:
    t = metrics["train"]
    table = Table(title=f"Counselor training: {escape(str(out))}")
    table.add_column("")
    table.add_column("value", justify="right")
    table.add_row("kind", t["kind"])
    table.add_row("base model", escape(str(t["base_model"])))
    table.add_row("examples (train/valid/test)", "/".join(str(v) for v in t["examples"].values()))
    table.add_row("steps", str(t["steps"]))
    table.add_row("seconds per step", _fmt(t["seconds_per_step"]))
    table.add_row("CPU seconds per step", _fmt(t.get("cpu_seconds_per_step")))
    table.add_row("examples per second", _fmt(t["examples_per_second"]))
    for name, value in t["best_metric"].items():
        table.add_row(f"best {name}", _fmt(value))
    for split in ("valid", "test"):
        if split in metrics:
            m = metrics[split]
            table.add_row(
                f"{split}: accuracy / macro-F1 / weighted-F1",
                " / ".join(f"{100 * m[k]:.2f}" for k in ("accuracy", "macro_f1", "weighted_f1")),
            )
    console.print(table)


def build_counselor(
    spec: str,
    *,
    kind: str | None = None,
    base_model: str | None = None,
    base_url: str | None = None,
    model: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    batch_size: int = 32,
) -> Any:
    """The counselor a ``--counselor`` spec names: a trained folder, ``zero-shot`` (the
    embedded model scoring the 8 names, no adapter) or ``prompted:<backend>`` (a chat model
    asked to choose; backend ``embedded``, ``openai`` with ``--base-url``/``--model``)."""
    if spec == "zero-shot":
        from sweetiechat.agents.likelihood import LikelihoodCounselor
        from sweetiechat.agents.trained import resolve_base

        base = base_model or "embedded"
        resolve_base(base)  # a clear error for a missing folder
        return LikelihoodCounselor(base)
    if spec.startswith("prompted:"):
        from sweetiechat.agents.counselor import PromptedCounselor
        from sweetiechat.backends.wrappers import UsageLedger
        from sweetiechat.config import RoleConfig
        from sweetiechat.factory import build_backend

        backend = spec.partition(":")[2]
        if backend not in ("embedded", "openai"):
            raise UserError(f"--counselor {spec}: use prompted:embedded or prompted:openai")
        cfg = validated(
            RoleConfig,
            {
                "backend": backend,
                "model": model,
                "base_url": base_url,
                "api_key_env": api_key_env,
                "temperature": 0.0,
            },
        )
        if backend == "openai":  # the key and the server, before any work
            from sweetiechat.factory import check_server

            check_server(cfg, "counselor", timeout=10.0)
        return PromptedCounselor(build_backend(cfg, "counselor", UsageLedger()))
    if not Path(spec).exists():
        raise UserError(
            f"--counselor {spec}: no such folder; give a trained folder, zero-shot or "
            "prompted:<backend>"
        )
    from sweetiechat.agents.trained import load_trained_counselor

    options = {"batch_size": batch_size} if _folder_kind(spec) == "classifier" else {}
    return load_trained_counselor(spec, kind=kind, base_model=base_model, **options)


def _folder_kind(folder: str) -> str:
    from sweetiechat.agents.trained import read_counselor_folder

    return read_counselor_folder(folder).kind


@app.command("eval")
def evaluate(
    data: Path = typer.Option(..., "--data", help="Dialogue file (e.g. ESConv's test.json)."),
    counselor: str = typer.Option(
        ..., "--counselor", help="A trained folder, zero-shot, or prompted:<embedded|openai>."
    ),
    out: Path = typer.Option(..., "--out", help="Folder for predictions, metrics and plots."),
    kind: str | None = typer.Option(
        None, "--kind", help="lm or classifier: insist the folder holds that kind."
    ),
    base_model: str | None = typer.Option(
        None, "--base-model", help="lm/zero-shot: the base model (default: the trained one)."
    ),
    base_url: str | None = typer.Option(None, "--base-url", help="prompted:openai server URL."),
    model: str | None = typer.Option(None, "--model", help="prompted: the model name."),
    api_key_env: str = typer.Option(
        "OPENAI_API_KEY", "--api-key-env", help="prompted:openai: the key's variable ('' for none)."
    ),
    limit: int | None = typer.Option(None, "--limit", help="Only the first N dialogues."),
    batch_size: int = typer.Option(32, "--batch-size", help="Examples per batch."),
    concurrency: int = typer.Option(8, "--concurrency", help="Calls in flight at once."),
    resume: bool = typer.Option(False, "--resume", help="Keep the predictions already in --out."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress display."),
) -> None:
    """Score a counselor on every supporter turn of a dialogue file.

    Prints accuracy, macro- and weighted-F1, per-strategy scores and preference bias B;
    writes predictions.jsonl, metrics.json and plots to --out.

    Example: sweetiechat counselor eval --data esconv/test.json --counselor runs/cls --out ev/
    """
    from sweetiechat.eval.counselor import evaluate_counselor
    from sweetiechat.trainer.dataset import load_strategy_examples

    _choice(kind, _KINDS, "--kind")
    examples = load_strategy_examples(data, limit=limit)
    agent = build_counselor(
        counselor,
        kind=kind,
        base_model=base_model,
        base_url=base_url,
        model=model,
        api_key_env=api_key_env,
        batch_size=batch_size,
    )
    try:
        report = evaluate_counselor(
            agent,
            examples,
            out,
            progress=not quiet,
            batch_size=batch_size,
            concurrency=concurrency,
            resume=resume,
            extra={"data": str(data), "counselor_spec": counselor, "limit": limit},
        )
    except Exception as err:
        if type(err).__module__.split(".")[0] not in ("openai", "httpx", "httpcore"):
            raise
        from sweetiechat.generate import redact

        raise UserError(
            f"the counselor's model failed: {redact(f'{type(err).__name__}: {err}')[:300]}; "
            f"the turns decided so far are in {out}; rerun with --resume to continue"
        ) from None
    _print_metrics(report.metrics, report.files)


def _print_metrics(m: Any, files: dict[str, Path]) -> None:
    table = Table(title=f"Counselor: {escape(m.counselor)} (n = {m.n})")
    for column in ("strategy", "precision", "recall", "F1", "gold", "predicted"):
        table.add_column(column, justify="left" if column == "strategy" else "right")
    for strategy, s in m.per_strategy.items():
        table.add_row(
            strategy.value,
            f"{100 * s.precision:.2f}",
            f"{100 * s.recall:.2f}",
            f"{100 * s.f1:.2f}",
            str(s.support),
            str(s.predicted),
        )
    console.print(table)
    b = "unbounded" if m.preference_bias is None else f"{m.preference_bias:.3f}"
    console.print(
        f"accuracy {100 * m.accuracy:.2f}  macro-F1 {100 * m.macro_f1:.2f}  "
        f"weighted-F1 {100 * m.weighted_f1:.2f}  B {b}  fallbacks {m.fallbacks}"
    )
    for name, path in files.items():
        err_console.print(f"{name}: {escape(str(path))}", highlight=False)


def register(root: typer.Typer) -> None:
    """Add ``sweetiechat counselor ...`` to ``root``."""
    root.add_typer(app, name="counselor")
