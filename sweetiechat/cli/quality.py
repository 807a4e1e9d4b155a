"""``sweetiechat quality``: train the strategy recognizer and the role detector, and measure
strategy adherence and role consistency of dialogue files (docs/quality.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from sweetiechat.cli._common import console, err_console
from sweetiechat.errors import UserError

app = typer.Typer(
    help="Strategy recognizer, role detector, adherence and role consistency.",
    no_args_is_help=True,
)

_ESCONV_HINT = "Folder with train, valid and test (.json ESConv splits or .jsonl)."


@app.command("train-recognizer")
def train_recognizer_cmd(
    data: Path = typer.Option(..., "--data", help=_ESCONV_HINT),
    out: Path = typer.Option(..., "--out", help="The recognizer folder to write."),
    kind: str = typer.Option(
        "frozen", "--kind", help="frozen (MiniLM + logistic regression, minutes) or finetuned."
    ),
    base_model: str | None = typer.Option(
        None, "--base-model", help="Encoder folder (default: all-MiniLM-L6-v2)."
    ),
    limit: int | None = typer.Option(None, "--limit", help="Only the first N dialogues/split."),
    max_length: int = typer.Option(160, "--max-length", help="finetuned: tokens per input."),
    window: int = typer.Option(3, "--window", help="finetuned: utterances shown, response too."),
    epochs: float = typer.Option(1.0, "--epochs", help="finetuned: passes over train."),
    max_steps: int = typer.Option(-1, "--max-steps", help="finetuned: stop after N steps."),
    batch_size: int = typer.Option(16, "--batch-size", help="finetuned: examples per step."),
    lr: float = typer.Option(5e-5, "--lr", help="finetuned: peak learning rate."),
) -> None:
    """Train a strategy recognizer on ESConv and score it on valid and test.

        sweetiechat quality train-recognizer --data ../shared/data/esconv --out runs/rec

    Fine-tuning (slower; a GPU helps):

        sweetiechat quality train-recognizer --data esconv/ --out runs/rec-ft --kind finetuned
    """
    from sweetiechat.quality.recognizer_train import train_recognizer

    if kind not in ("frozen", "finetuned"):
        raise UserError(f"--kind {kind!r}: choose frozen or finetuned")
    if limit is not None and limit < 1:
        raise UserError(f"--limit {limit}: give at least 1")
    metrics = train_recognizer(
        data, out, kind=kind, base_model=base_model, limit=limit,  # type: ignore[arg-type]
        max_length=max_length, window=window, epochs=epochs, max_steps=max_steps,
        batch_size=batch_size, learning_rate=lr, log=lambda line: err_console.print(line),
    )  # fmt: skip
    table = Table("split", "n", "accuracy", "macro-F1", title=f"Strategy recognizer ({kind})")
    for split in ("valid", "test"):
        if split in metrics:
            m = metrics[split]
            table.add_row(split, str(m["n"]), f"{m['accuracy']:.3f}", f"{m['macro_f1']:.3f}")
    console.print(table)
    console.print(f"wrote {escape(str(out))} (trained in {metrics['train']['seconds']} s)")


@app.command("train-role")
def train_role_cmd(
    data: Path = typer.Option(..., "--data", help=_ESCONV_HINT),
    out: Path = typer.Option(..., "--out", help="The role-detector folder to write."),
    features: str = typer.Option(
        "utterance", "--features", help="utterance, or context (also the turn before)."
    ),
    limit: int | None = typer.Option(None, "--limit", help="Only the first N dialogues/split."),
    c: float = typer.Option(1.0, "--c", help="Inverse L2 strength of the logistic regression."),
    max_seeker_rate: float = typer.Option(
        0.05, "--max-seeker-rate", help="Threshold flags at most this share of valid seekers."
    ),
    slides: Path | None = typer.Option(
        None, "--slides", help="A slide set to score too (default: the shipped one)."
    ),
) -> None:
    """Train the role-inconsistency detector on ESConv (utterances labelled by role).

    sweetiechat quality train-role --data ../shared/data/esconv --out runs/role
    """
    from sweetiechat.quality.roles_train import SLIDES_FILE, train_role_detector

    if features not in ("utterance", "context"):
        raise UserError(f"--features {features!r}: choose utterance or context")
    if c <= 0:
        raise UserError(f"--c {c}: give a positive number")
    metrics = train_role_detector(
        data, out, features=features, limit=limit, c=c,  # type: ignore[arg-type]
        max_seeker_rate=max_seeker_rate, slides=slides or SLIDES_FILE,
    )  # fmt: skip
    table = Table("set", "n", "precision", "recall", "F1", title="Role detector")
    for name in ("valid", "test", "slides"):
        if name in metrics:
            m = metrics[name]
            row = (f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}")
            table.add_row(name, str(m["n"]), *row)
    console.print(table)
    console.print(f"wrote {escape(str(out))}")


def adherence_reports(files: list[Path], recognizer_dir: Path | None) -> dict[str, Any]:
    """Adherence per file, with a progress bar: ``{file: AdherenceReport.to_dict()}``."""
    from sweetiechat.io import read_dialogues
    from sweetiechat.quality.adherence import adherence
    from sweetiechat.quality.recognizer import StrategyRecognizer
    from sweetiechat.quality.recognizer_train import progress_bar

    recognizer = StrategyRecognizer.load(recognizer_dir)
    out = {}
    for path in files:
        dialogues = list(read_dialogues(path))
        total = sum(1 for d in dialogues for t in d.turns if t.strategy is not None)
        with progress_bar(f"adherence: {path.name}", total) as advance:
            out[str(path)] = adherence(dialogues, recognizer, advance=advance).to_dict()
    return out


def print_adherence(reports: dict[str, Any]) -> None:
    """One table: overall and per-strategy adherence of each file."""
    from sweetiechat.taxonomy import Strategy

    table = Table("file", "turns", "overall", *(s.value for s in Strategy), title="Adherence %")
    for path, r in reports.items():
        cells = [f"{100 * v:.0f}" if v is not None else "-" for v in r["per_strategy"].values()]
        overall = "n/a" if r["overall"] is None else f"{100 * r['overall']:.1f}"
        table.add_row(escape(Path(path).name), str(r["turns"]), overall, *cells)
    console.print(table)


@app.command("adherence")
def adherence_cmd(
    files: list[Path] = typer.Argument(..., help="Dialogue files with assigned strategies."),
    recognizer: Path | None = typer.Option(
        None, "--recognizer", help="Strategy recognizer folder; default: the shipped one."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Share of supporter turns whose recognized strategy is the assigned one."""
    reports = adherence_reports(files, recognizer)
    if as_json:
        console.print_json(json.dumps(reports))
    else:
        print_adherence(reports)


@app.command("roles")
def roles_cmd(
    files: list[Path] = typer.Argument(..., help="Dialogue files."),
    role_detector: Path | None = typer.Option(
        None, "--role-detector", help="Role-detector folder (default: the shipped one)."
    ),
    threshold: float | None = typer.Option(None, "--threshold", help="Flag from this score."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Role consistency: the share of seeker turns (and dialogues) that slide into the
    supporter's role."""
    from sweetiechat.io import read_dialogues
    from sweetiechat.quality.roles import RoleDetector

    detector = RoleDetector.load(role_detector, threshold=threshold)
    results = {}
    for path in files:
        dialogues = list(read_dialogues(path))
        items = [(d, i) for d in dialogues for i, t in enumerate(d.turns) if t.role == "seeker"]
        flags = detector.flags(items)
        flagged_ids = {d.id for (d, _), f in zip(items, flags, strict=True) if f}
        results[str(path)] = {
            "seeker_turns": len(items),
            "flagged_turns": sum(flags),
            "flagged_turn_share": sum(flags) / len(items) if items else None,
            "dialogues": len(dialogues),
            "flagged_dialogues": len(flagged_ids),
            "threshold": detector.threshold,
        }
    if as_json:
        console.print_json(json.dumps(results))
        return
    table = Table("file", "seeker turns", "flagged", "dialogues", "with a flag", title="Roles")
    for name, r in results.items():
        table.add_row(
            escape(Path(name).name), str(r["seeker_turns"]), str(r["flagged_turns"]),
            str(r["dialogues"]), str(r["flagged_dialogues"]),
        )  # fmt: skip
    console.print(table)


def register(app_root: typer.Typer) -> None:
    """Add ``sweetiechat quality ...`` to the root app."""
    app_root.add_typer(app, name="quality")
