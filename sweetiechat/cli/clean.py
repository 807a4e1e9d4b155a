"""``sweetiechat clean``: filter and repair a file of generated dialogues."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sweetiechat.cli._common import console, err_console
from sweetiechat.errors import ConfigError

if TYPE_CHECKING:
    from sweetiechat.quality.clean import CleanReport

_CODES = (
    "role_inconsistency, redundant_greetings, too_short, too_long, off_scenario, "
    "near_duplicate, malformed_scenario, malformed_profile, unsafe_supporter"
)


def clean(
    source: Path = typer.Argument(..., help="Dialogues to clean (JSON lines or ESConv)."),
    out: Path = typer.Option(..., "--out", "-o", help="Where the kept dialogues go."),
    report_dir: Path = typer.Option(
        ..., "--report", help="Folder for rejected.jsonl, report.json and reasons.png."
    ),
    config_file: Path | None = typer.Option(
        None, "--config", help="A TOML file whose [clean] section holds settings (flags win)."
    ),
    disable: list[str] = typer.Option(
        [], "--disable", help=f"Switch a filter off (repeat). One of: {_CODES}."
    ),
    min_turns: int | None = typer.Option(
        None, "--min-turns", help="Fewer utterances: too_short. [default: 4]"
    ),
    max_turns: int | None = typer.Option(
        None, "--max-turns", help="More utterances are cut to this many. [default: 40]"
    ),
    max_sentences: int | None = typer.Option(
        None, "--max-sentences", help="Longer utterances are cut. [default: 3]"
    ),
    scenario_threshold: float | None = typer.Option(
        None, "--scenario-threshold", help="Min. scenario similarity, -1..1. [default: 0.2]"
    ),
    dup_threshold: float | None = typer.Option(
        None, "--dup-threshold", help="Near-duplicate Jaccard, (0, 1]. [default: 0.7]"
    ),
    role_threshold: float | None = typer.Option(
        None, "--role-threshold", help="Role-detector probability, 0..1. [default: its own]"
    ),
    role_model: Path | None = typer.Option(
        None, "--role-model", help="A role detector folder. [default: the shipped one]"
    ),
    role_llm: str | None = typer.Option(
        None,
        "--role-llm",
        help="Ask a model (embedded or openai) to confirm each turn the role detector flags.",
    ),
    role_llm_model: str | None = typer.Option(
        None, "--role-llm-model", help="With --role-llm: the model name (openai) or folder."
    ),
    role_llm_base_url: str | None = typer.Option(
        None, "--role-llm-base-url", help="With --role-llm openai: the server's URL."
    ),
    role_llm_api_key_env: str = typer.Option(
        "OPENAI_API_KEY",
        "--role-llm-api-key-env",
        help='With --role-llm openai: the variable holding the key ("" for none).',
    ),
    recognizer: Path | None = typer.Option(
        None, "--recognizer", help="A strategy recognizer folder: report strategy adherence."
    ),
    semantic_safety: bool | None = typer.Option(
        None,
        "--semantic-safety/--no-semantic-safety",
        help="Unsafe-supporter check with the MiniLM layer (or patterns only). [default: on]",
    ),
    force: bool = typer.Option(False, "--force", help="Replace OUT if it exists."),
) -> None:
    """Filter and repair generated dialogues: kept ones to OUT, the rest to
    DIR/rejected.jsonl with their reason codes, counts in DIR/report.json and a plot.

    Repairs (cutting long utterances or dialogues, trailing goodbyes) keep a dialogue and are
    listed in its meta.repairs. See docs/quality.md. Example:

        sweetiechat clean dialogues.jsonl -o clean.jsonl --report report --disable off_scenario
    """
    from sweetiechat.quality.clean import clean_file, strategy_adherence, write_json
    from sweetiechat.quality.clean_models import ModelChecks
    from sweetiechat.quality.clean_report import build_config, write_report

    config = build_config(
        config_file,
        {
            "disable": disable,
            "min_turns": min_turns,
            "max_turns": max_turns,
            "max_sentences": max_sentences,
            "scenario_threshold": scenario_threshold,
            "dup_threshold": dup_threshold,
            "role_threshold": role_threshold,
            "unsafe_semantic": semantic_safety,
        },
    )
    if recognizer is not None and not recognizer.is_dir():
        raise ConfigError(
            f"--recognizer {recognizer}: no such folder; train one with `sweetiechat quality` "
            "or leave the flag out"
        )
    if out.exists() and not force:
        raise ConfigError(f"{out} already exists; pass --force to replace it, or choose another -o")
    if out.resolve() == source.resolve():
        raise ConfigError("-o must differ from the input file")
    role_backend = _role_backend(role_llm, role_llm_model, role_llm_base_url, role_llm_api_key_env)
    report_dir.mkdir(parents=True, exist_ok=True)
    with Progress(
        TextColumn("cleaning"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task("clean", total=None)
        report = clean_file(
            source,
            out,
            report_dir / "rejected.jsonl",
            config,
            checks=ModelChecks(config, role_model=role_model, role_backend=role_backend),
            progress=lambda n: bar.advance(task, n),
        )
    if recognizer is not None:
        report.adherence = strategy_adherence(out, recognizer)
    write_report(report, report_dir)
    if report.adherence is not None:
        write_json(report_dir / "adherence.json", report.adherence)
    _show(report)
    console.print(
        f"{report.kept} kept -> {escape(str(out))}; {report.rejected} rejected -> "
        f"{escape(str(report_dir / 'rejected.jsonl'))}; report in {escape(str(report_dir))}"
    )


def _role_backend(
    kind: str | None, model: str | None, base_url: str | None, api_key_env: str
) -> Any:
    if kind is None:
        if model or base_url:
            raise ConfigError("--role-llm-model and --role-llm-base-url need --role-llm")
        return None
    if kind not in ("embedded", "openai"):
        raise ConfigError(f"--role-llm {kind}: choose embedded or openai")
    from sweetiechat.backends.wrappers import UsageLedger
    from sweetiechat.config import RoleConfig
    from sweetiechat.factory import build_backend

    cfg = RoleConfig(
        backend=kind,
        model=model,
        base_url=base_url,
        api_key_env=api_key_env,
        temperature=0.0,
        max_tokens=8,
    )
    return build_backend(cfg, "role checker", UsageLedger())


def _show(report: CleanReport) -> None:
    from sweetiechat.quality.filters import REASONS

    table = Table(title=f"clean: {report.input} dialogues")
    table.add_column("reason")
    table.add_column("rejected", justify="right")
    table.add_column("repaired (kept)", justify="right")
    for code in REASONS:
        table.add_row(
            code, str(report.rejected_by.get(code, 0)), str(report.repaired_by.get(code, 0))
        )
    table.add_section()
    table.add_row("dialogues", str(report.rejected), str(report.repaired))
    console.print(table)
    if report.adherence:
        overall = report.adherence.get("overall")
        if isinstance(overall, float):
            console.print(f"strategy adherence: {overall:.1%}")
    for note in report.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")


def register(app: typer.Typer) -> None:
    """Add ``sweetiechat clean`` to ``app``."""
    app.command("clean")(clean)
