"""``sweetiechat safety check``: the crisis detector on one message or a file of messages."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.markup import escape

from sweetiechat.cli._common import console
from sweetiechat.errors import UserError

app = typer.Typer(
    help="Crisis safety: detect suicide, self-harm, danger and means-request risk.",
    no_args_is_help=True,
)

_BATCH = 256


@app.command("check")
def check(
    text: str | None = typer.Argument(None, help="The message to check."),
    file: Path | None = typer.Option(
        None, "--file", "-f", help="A text file with one message per line (writes JSON lines)."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="With --file: write the JSON lines here (default: stdout)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the verdict as JSON."),
    context: list[str] = typer.Option(
        [], "--context", "-c", help="An earlier seeker message (repeat, oldest first)."
    ),
    as_dialogue: bool = typer.Option(
        False, "--as-dialogue", help="With --file: read each line after the lines before it."
    ),
    semantic: bool = typer.Option(
        True, "--semantic/--no-semantic", help="Use the MiniLM layer (needs the safety extra)."
    ),
    finetuned: bool | None = typer.Option(
        None,
        "--finetuned/--no-finetuned",
        help="The fine-tuned layer (MiniLM + LoRA, reads the context): on by default with "
        "the semantic layer; --no-finetuned leaves it out.",
        show_default=False,
    ),
    adapter: Path | None = typer.Option(
        None, "--adapter", help="An adapter file from 'safety train' for the fine-tuned layer."
    ),
    threshold: float | None = typer.Option(
        None,
        "--threshold",
        help="The fine-tuned layer's threshold, 0-1 (default: SWEETIECHAT_SAFETY_THRESHOLD, else "
        "the adapter's): lower finds more risk for more false alarms.",
        show_default=False,
    ),
) -> None:
    """Is there crisis risk in a message? Prints {"risk", "category", "score", "layer"}.

    The detector reads English; other languages are flagged conservatively (layer
    "language"). Examples:

        sweetiechat safety check "I gave my guitar away, I won't need it." --json

        sweetiechat safety check --file messages.txt -o verdicts.jsonl
    """
    from sweetiechat.quality.risk import RiskDetector, env_threshold

    if threshold is not None and not 0.0 < threshold < 1.0:
        raise UserError(f"--threshold {threshold}: give a number between 0 and 1, such as 0.6")
    threshold = threshold if threshold is not None else env_threshold()
    if (text is None) == (file is None):
        raise UserError("give either a TEXT to check or --file FILE (one message per line)")
    if adapter is not None and finetuned is False:
        raise UserError(f"--adapter {adapter}: leave out --no-finetuned to use it")
    if (finetuned or adapter is not None) and not semantic:
        raise UserError("the fine-tuned layer needs the semantic layer: leave out --no-semantic")
    tuned: bool | Path | str = False
    if finetuned is not False and semantic:
        tuned = adapter or (True if finetuned else "auto")
    detector = RiskDetector(semantic="auto" if semantic else False, finetuned=tuned)
    if (finetuned or adapter is not None) and detector.finetuned is None:
        raise UserError(
            "--finetuned needs the semantic layer, which is not installed: "
            "pip install 'sweetiechat[safety]'"
        )
    if threshold is not None:
        if detector.finetuned is None:
            raise UserError(
                "a threshold (--threshold or SWEETIECHAT_SAFETY_THRESHOLD) needs the fine-tuned "
                "layer: leave out --no-finetuned and --no-semantic"
            )
        detector.finetuned.threshold = threshold
    if text is not None:
        result = detector.assess(text, context)
        if as_json:
            typer.echo(json.dumps(result.to_json()))
        else:
            colour = "red" if result.risk else "green"
            console.print(
                f"[{colour}]{'risk' if result.risk else 'no risk'}[/] category={result.category}"
                f" score={result.score:.3f} layer={result.layer}"
                + (f" ({escape(result.note)})" if result.note else ""),
                highlight=False,
            )
        return
    assert file is not None
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{file}: cannot read it as UTF-8 text ({err})") from err
    out = output.open("a", encoding="utf-8") if output else sys.stdout
    try:
        for start in range(0, len(lines), _BATCH):
            chunk = lines[start : start + _BATCH]
            contexts = (
                [lines[max(0, start + i - 3) : start + i] for i in range(len(chunk))]
                if as_dialogue
                else None
            )
            for i, result in enumerate(detector.assess_many(chunk, contexts)):
                record = {"line": start + i + 1, **result.to_json()}
                out.write(json.dumps(record) + "\n")
                out.flush()
    finally:
        if output:
            out.close()


@app.command("train")
def train(
    data: list[Path] = typer.Option(
        ...,
        "--data",
        "-d",
        help="A JSON-lines file of messages: text, category (suicidal_ideation, self_harm, "
        "harm_from_others, means_request or none) and optionally context (earlier seeker "
        "messages). Repeat for several files; include hard negatives (category none).",
    ),
    output: Path = typer.Option(
        ..., "--output", "-o", help="The adapter file to write (.safetensors)."
    ),
    epochs: int = typer.Option(3, min=1, help="Passes over the data."),
    lr: float = typer.Option(1e-3, min=0.0, help="Learning rate."),
    rank: int = typer.Option(8, min=1, help="LoRA rank."),
    max_length: int = typer.Option(96, min=16, help="Tokens of message plus context."),
    batch_size: int = typer.Option(32, min=1, help="Messages per step."),
    threshold: float = typer.Option(
        0.5, min=0.0, max=1.0, help="Risk score (1 - P(none)) at which the layer flags."
    ),
    base: str | None = typer.Option(
        None, help="An encoder folder to fine-tune (default: all-MiniLM-L6-v2)."
    ),
    threads: int = typer.Option(1, min=1, help="torch threads."),
    seed: int = typer.Option(0, help="Shuffling and initialisation seed."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Fine-tune the detector's classifier layer (MiniLM + LoRA) on your own messages.

    Use the result with RiskDetector(finetuned=OUTPUT). Example:

        sweetiechat safety train -d risk.jsonl -d negatives.jsonl -o my_adapter.safetensors
    """
    from sweetiechat.quality.finetune_train import balance_weights, read_rows, train_finetuned

    try:
        import peft  # noqa: F401
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as err:
        raise UserError(
            f"safety train needs torch, transformers and peft ({err.name} is missing): "
            "pip install 'sweetiechat[train,safety]'"
        ) from err
    if output.suffix != ".safetensors":
        raise UserError(f"{output}: the adapter file must end in .safetensors")
    rows = [row for path in data for row in read_rows(path)]
    balance_weights(rows)
    clf = train_finetuned(
        rows,
        base=base,
        epochs=epochs,
        lr=lr,
        rank=rank,
        alpha=2 * rank,
        max_length=max_length,
        batch_size=batch_size,
        threads=threads,
        seed=seed,
        progress=not quiet,
        info={"data": [p.name for p in data], "lr": lr, "rank": rank},
    )
    clf.threshold = threshold
    clf.save(output)
    console.print(
        f"wrote {escape(str(output))} ({len(rows)} messages, {clf.info['train_seconds']} s); "
        f"use it with RiskDetector(finetuned={escape(repr(str(output)))})",
        highlight=False,
    )


def register(root: typer.Typer) -> None:
    """Add ``safety`` to ``root``."""
    root.add_typer(app, name="safety")
