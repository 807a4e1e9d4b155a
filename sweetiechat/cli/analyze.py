"""``sweetiechat analyze`` (the dataset report) and ``sweetiechat score`` (response metrics)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from sweetiechat.cli._common import console, err_console
from sweetiechat.errors import UserError
from sweetiechat.io import read_text
from sweetiechat.tokenizers import get_tokenizer


def analyze(
    files: list[Path] = typer.Argument(..., help="Dialogue files (sweetiechat or ESConv format)."),
    out: Path = typer.Option(Path("analysis"), "--out", help="Folder for report.md/json and PNGs."),
    problem_type: str = typer.Option(
        "all", "--problem-type", help="'all' (a table over types) or one problem type."
    ),
    tokenizer: str = typer.Option("llama3", "--tokenizer", help="llama3, word or whitespace."),
    seed: int = typer.Option(0, "--seed", help="Seed of the samples."),
    max_dialogues: int = typer.Option(5000, "--max-dialogues", help="Sample for all-pairs."),
    max_responses: int = typer.Option(2000, "--max-responses", help="Per-strategy sample."),
) -> None:
    """Compare datasets: statistics, strategy shares and transitions, diversity, Distinct-n.

    Writes report.md, report.json and PNG plots to --out. Example:

        sweetiechat analyze ../shared/data/esconv/train.json out/demo.jsonl --out report/
    """
    from sweetiechat.metrics.analysis import AnalysisSettings
    from sweetiechat.metrics.report import write_report
    from sweetiechat.taxonomy import parse_problem_type

    if problem_type != "all":
        problem_type = parse_problem_type(problem_type).value
    settings = AnalysisSettings(
        max_dialogues=max_dialogues,
        max_responses=max_responses,
        seed=seed,
        problem_type=problem_type,
    )
    with console.status("analysing ...") as status:
        report = write_report(
            files,
            out,
            get_tokenizer(tokenizer),
            settings,
            on_file=lambda p: status.update(f"analysing {p} ..."),
        )
    table = Table("dataset", "dialogues", "strategies", "dialogue sim. (mean)", "Distinct-2")
    for d in report["datasets"]:
        mean = d["similarity"]["overall"]["mean"]
        table.add_row(
            d["label"],
            f"{d['stats']['dialogues']:,}",
            "yes" if d["strategies"] else "none",
            "n/a" if mean is None else f"{mean:.3f}",
            "n/a" if d["distinct"]["distinct2"] is None else f"{d['distinct']['distinct2']:.3f}",
        )
    console.print(table)
    console.print(
        f"wrote {out / 'report.md'}, {out / 'report.json'} and {len(report['images'])} plots"
    )


def _is_dialogue_file(path: Path, first: str) -> bool:
    if first.lstrip().startswith("["):
        return True  # the original ESConv.json array
    try:
        record = json.loads(first)
    except json.JSONDecodeError:
        return False
    return isinstance(record, dict) and ("turns" in record or "dialog" in record)


def read_responses(path: Path) -> list[str]:
    """Responses to score: one per line of a text file, or the supporter turns, in order, of
    a dialogue file (sweetiechat JSON lines or either ESConv format)."""
    lines = read_text(path).splitlines()
    if lines and _is_dialogue_file(path, lines[0]):
        from sweetiechat.io import read_dialogues

        return [t.text for d in read_dialogues(path) for t in d.turns if t.role == "supporter"]
    return lines


def score(
    hyp: Path = typer.Argument(
        ..., help="Generated responses: one per line, or a dialogue file (supporter turns)."
    ),
    ref: Path = typer.Argument(..., help="Reference responses, the same way, same order."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    tokenizer: str = typer.Option("llama3", "--tokenizer", help="llama3, word or whitespace."),
    bertscore_model: str = typer.Option(
        "minilm", "--bertscore-model", help="'minilm' (offline) or a model name or folder."
    ),
    no_bertscore: bool = typer.Option(False, "--no-bertscore", help="Skip BERTScore."),
) -> None:
    """Score responses against references: BLEU-2/4, ROUGE-2/L, Distinct-2/3, METEOR, BERTScore.

    Each file is plain text with one response per line, or a dialogue file (sweetiechat or
    ESConv format) whose supporter turns are the responses. All values are fractions (0-1).
    See docs/metrics.md for the exact variants.
    """
    from sweetiechat.metrics.response import score_responses

    tok = get_tokenizer(tokenizer)
    hyps, refs = read_responses(hyp), read_responses(ref)
    if len(hyps) != len(refs):
        raise UserError(
            f"{hyp} has {len(hyps)} responses but {ref} has {len(refs)}; "
            "give the same number, in the same order (one per line, or dialogue files)"
        )
    with err_console.status("scoring ..."):
        result = score_responses(
            hyps, refs, tok, bertscore_model=None if no_bertscore else bertscore_model
        )
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    table = Table(
        "metric", "value", title=f"{result['n']} responses, tokenizer {result['tokenizer']}"
    )
    for key, value in result.items():
        if key not in ("n", "tokenizer"):
            table.add_row(
                key,
                "n/a"
                if value is None
                else (f"{value:.4f}" if isinstance(value, float) else str(value)),
            )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the commands to ``app``."""
    app.command("analyze")(analyze)
    app.command("score")(score)
