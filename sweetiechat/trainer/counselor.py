"""Train a strategy counselor of either kind: :func:`train_counselor`.

>>> from sweetiechat.trainer import CounselorTrainConfig, train_counselor   # doctest: +SKIP
>>> config = CounselorTrainConfig(kind="classifier", data_dir="esconv/", out_dir="runs/cls")
>>> result = train_counselor(config)                                      # doctest: +SKIP
>>> result.metrics["test"]["macro_f1"]                                    # doctest: +SKIP
0.27
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweetiechat.agents.trained import CounselorFolder, base_fingerprint, resolve_base
from sweetiechat.errors import UserError
from sweetiechat.trainer.common import (
    LABELS,
    Timer,
    class_weights,
    last_checkpoint,
    prepare_out_dir,
    require_train,
    write_json,
)
from sweetiechat.trainer.config import CounselorTrainConfig
from sweetiechat.trainer.dataset import (
    StrategyExample,
    load_splits,
    load_strategy_examples,
    split_path,
)

__all__ = ["TrainResult", "evaluate_folder", "train_counselor"]


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train_counselor` did."""

    out_dir: Path
    """The output folder (load it with ``load_trained_counselor``)."""
    metrics: dict[str, Any]
    """What ``metrics.json`` holds: ``train`` (steps, speed, best checkpoint) and, after the
    final evaluation, ``valid`` and ``test`` scores."""


def _base_model(config: CounselorTrainConfig) -> str:
    if config.base_model:
        return config.base_model
    if config.kind == "lm":
        return "embedded"
    from sweetiechat.trainer.classifier import default_classifier_base

    return default_classifier_base()


def evaluate_folder(
    out_dir: Path, splits: dict[str, list[StrategyExample]], *, progress: bool = True
) -> dict[str, Any]:
    """Score a trained folder on each split: accuracy, macro/weighted-F1, B, ``n``."""
    from sweetiechat.agents.trained import load_trained_counselor
    from sweetiechat.eval.counselor import evaluate_counselor

    counselor = load_trained_counselor(out_dir)
    scores: dict[str, Any] = {}
    for name, examples in splits.items():
        if not examples:
            continue
        report = evaluate_counselor(counselor, examples, None, progress=progress, plots=False)
        m = report.metrics
        scores[name] = {
            "n": m.n,
            "accuracy": m.accuracy,
            "macro_f1": m.macro_f1,
            "weighted_f1": m.weighted_f1,
            "preference_bias": m.preference_bias,
            "decisions_per_second": m.decisions_per_second,
        }
    return scores


def train_counselor(
    config: CounselorTrainConfig, *, resume: bool = False, progress: bool = True
) -> TrainResult:
    """Train a counselor as ``config`` says and write its output folder.

    Args:
        config: the settings (kind, data, base model, recipe).
        resume: continue from the newest checkpoint in ``config.out_dir``.
        progress: show a rich progress bar on stderr.

    Raises:
        UserError: bad data (no supporter turns, an unknown label), a missing base model,
            or an output folder that holds another run.
    """
    require_train()
    base = _base_model(config)
    config = config.model_copy(update={"base_model": base})
    base_path = resolve_base(base)
    info = CounselorFolder(
        kind=config.kind,
        base_model=base,
        base_fingerprint=base_fingerprint(base),
        labels=[s.value for s in LABELS],
        window=config.window,
        input=config.input.model_dump() if config.kind == "classifier" else None,
    )
    splits = load_splits(config.data_dir, limit=config.limit, splits=("train", "valid"))
    try:  # the test split is only scored at the end, and may be absent
        splits["test"] = load_strategy_examples(
            split_path(config.data_dir, "test"), limit=config.limit
        )
    except UserError as err:
        if "no test.json" not in str(err):
            raise
    out = Path(config.out_dir)
    prepare_out_dir(config, info, resume)
    resume_from = last_checkpoint(out) if resume else None
    if resume and resume_from is None:
        raise UserError(f"{out}: no checkpoint to resume from (checkpoints/ is empty)")
    weights = class_weights(splits["train"], config.class_weights)
    timer = Timer()
    if config.kind == "lm":
        from sweetiechat.trainer.lm import train_lm

        stats = train_lm(
            config, splits["train"], splits["valid"], base_path=base_path,
            weights=weights, resume_from=resume_from, progress=progress,
        )  # fmt: skip
    else:
        from sweetiechat.trainer.classifier import train_classifier

        stats = train_classifier(
            config, splits["train"], splits["valid"], base_path=base_path,
            weights=weights, resume_from=resume_from, progress=progress,
        )  # fmt: skip
    seconds = timer.seconds
    done_now = stats["steps"] - _step_of(resume_from)
    timed = stats["timed_steps"]
    metrics: dict[str, Any] = {
        "train": {
            "kind": config.kind,
            "base_model": base,
            "examples": {k: len(v) for k, v in splits.items()},
            "steps": stats["steps"],
            "steps_this_run": done_now,
            "seconds": round(seconds, 3),
            # inside optimisation steps only (no evaluation, saving or loading)
            "seconds_per_step": round(stats["step_wall_seconds"] / timed, 4) if timed else None,
            "cpu_seconds_per_step": (
                round(stats["step_cpu_seconds"] / timed, 4) if timed else None
            ),
            "examples_per_second": (
                round(timed * config.batch_size / stats["step_wall_seconds"], 3)
                if timed and stats["step_wall_seconds"] > 0
                else None
            ),
            "batch_size": config.batch_size,
            "class_weights": weights,
            "best_checkpoint": stats["best_checkpoint"],
            "best_metric": {config.best_metric: stats["best_metric"]},
            "resumed_from": str(resume_from) if resume_from else None,
        },
        "log_history": stats["log_history"],
    }
    info = info.model_copy(update={"trained_steps": stats["steps"]})
    write_json(out / "counselor.json", info.model_dump(mode="json"))
    write_json(out / "metrics.json", metrics)
    if config.final_eval:
        final = {k: v for k, v in splits.items() if k in ("valid", "test")}
        metrics.update(evaluate_folder(out, final, progress=progress))
        write_json(out / "metrics.json", metrics)
    return TrainResult(out, metrics)


def _step_of(checkpoint: Path | None) -> int:
    return int(checkpoint.name.split("-")[-1]) if checkpoint else 0
