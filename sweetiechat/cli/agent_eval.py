"""``sweetiechat agent eval``: generate a supporter response at every supporter turn of ESConv
(reference and generated context), score them against the human ones, and print a table like
the paper's (see docs/agent.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from sweetiechat.cli._common import console, err_console
from sweetiechat.errors import UserError

_BACKENDS = ("local", "embedded", "openai", "langchain")
_MODES = {
    "reference": ["reference"],
    "generated": ["generated"],
    "both": ["reference", "generated"],
}


def _seeds(text: str) -> list[int]:
    """``"3"`` -> ``[0, 1, 2]``; ``"0,5,7"`` -> ``[0, 5, 7]``."""
    try:
        parts = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise UserError(f"--seeds {text!r}: give a count (3) or a list of seeds (0,5,7)") from None
    if len(parts) == 1 and "," not in text:
        if parts[0] < 1:
            raise UserError(f"--seeds {text}: give at least 1")
        return list(range(parts[0]))
    if not parts or len(set(parts)) != len(parts):
        raise UserError(f"--seeds {text!r}: give distinct seeds, e.g. 0,1,2")
    return parts


def evaluate(
    data: Path = typer.Option(..., "--data", help="Dialogue file, e.g. ESConv's test.json."),
    model: str = typer.Option(
        "embedded", "--model", help="embedded (SmolLM2), a model folder, or an API model's name."
    ),
    adapter: list[str] | None = typer.Option(
        None,
        "--adapter",
        help="A fine-tuned agent's adapter folder, or a folder of seeds from agent train "
        "--seeds; repeat for several (one run each, reported as mean ± std).",
    ),
    out: Path = typer.Option(..., "--out", help="Folder for generations.jsonl and metrics.json."),
    mode: str = typer.Option("both", "--mode", help="Context: reference, generated or both."),
    limit: int | None = typer.Option(None, "--limit", help="Only the first N dialogues."),
    seeds: str = typer.Option(
        "1", "--seeds", help="Sampling seeds: a count (3 = 0,1,2) or a list (0,5,7)."
    ),
    backend: str | None = typer.Option(
        None, "--backend", help="local (default), openai or langchain (through the factory)."
    ),
    base_url: str | None = typer.Option(None, "--base-url", help="OpenAI-compatible server URL."),
    api_key_env: str | None = typer.Option(
        None, "--api-key-env", help="The API key's environment variable ('' for none)."
    ),
    config_path: Path | None = typer.Option(
        None, "--config", help="A generate config; its supporter role sets the API backend."
    ),
    temperature: float = typer.Option(0.5, "--temperature", help="0: greedy."),
    top_p: float = typer.Option(0.9, "--top-p", help="Nucleus sampling mass."),
    max_new_tokens: int = typer.Option(64, "--max-new-tokens", help="Longest response."),
    max_length: int | None = typer.Option(
        None, "--max-length", help="Local: prompt + response tokens (default: the adapter's)."
    ),
    batch_size: int = typer.Option(16, "--batch-size", help="Local: responses decoded together."),
    concurrency: int = typer.Option(4, "--concurrency", help="API: requests in flight."),
    tokenizer: str = typer.Option("llama3", "--tokenizer", help="llama3, word or whitespace."),
    bertscore_model: str = typer.Option(
        "minilm", "--bertscore-model", help="BERTScore encoder (minilm: offline default)."
    ),
    metrics: str = typer.Option("all", "--metrics", help="all, or some of bleu,rouge,..."),
    resume: bool = typer.Option(False, "--resume", help="Continue the evaluation in --out."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress display."),
) -> None:
    """Evaluate a supporter on every supporter turn of ESConv, in both context modes.

    Reference context: the history is the human dialogue. Generated context: the model's own
    earlier responses replace the human supporter turns. Prints BLEU-2/4, ROUGE-2/L,
    Distinct-2/3, METEOR and BERTScore (%, mean ± std over runs) and responses per second;
    writes generations.jsonl, metrics.json and metrics.png to --out.

    Example: sweetiechat agent eval --data esconv/test.json --adapter runs/agent --limit 20
    --out ev/agent
    """
    from pydantic import ValidationError

    from sweetiechat.eval.agent_run import AgentEvalSettings, evaluate_agent
    from sweetiechat.eval.agent_score import results_table
    from sweetiechat.metrics.response import parse_metrics

    if limit is not None and limit < 1:
        raise UserError(f"--limit {limit}: give at least 1 dialogue")
    if mode not in _MODES:
        raise UserError(f"--mode {mode!r}: choose reference, generated or both")
    if backend is not None and backend not in _BACKENDS:
        raise UserError(f"--backend {backend!r}: choose local, openai or langchain")
    if base_url and backend is None:
        backend = "openai"
    try:
        settings = AgentEvalSettings(
            data=str(data),
            model=model,
            adapters=list(adapter or []),
            backend=backend or ("local" if config_path is None else "embedded"),
            base_url=base_url,
            api_key_env=api_key_env,
            config=str(config_path) if config_path else None,
            modes=_MODES[mode],
            limit=limit,
            seeds=_seeds(seeds),
            temperature=temperature,
            top_p=top_p,
            max_new_tokens=max_new_tokens,
            max_length=max_length,
            batch_size=batch_size,
            concurrency=concurrency,
            tokenizer=tokenizer,
            bertscore_model=bertscore_model or None,
            metrics=parse_metrics(metrics),
        )
    except ValidationError as err:
        problem = err.errors()[0]
        flag = "--" + str(problem["loc"][0]).replace("_", "-")
        raise UserError(f"{flag}: {problem['msg']}") from None
    if config_path is not None and backend is None:
        from sweetiechat.config import load_config

        role = load_config(config_path).role("supporter")
        settings = settings.model_copy(update={"backend": role.backend})
    progress = _Progress(enabled=not quiet)
    try:
        with progress:
            report = evaluate_agent(
                settings,
                out,
                resume=resume,
                on_record=progress.advance,
                on_start=progress.start,
                on_step=progress.phase,
            )
    except Exception as err:
        if type(err).__module__.split(".")[0] not in ("openai", "httpx", "httpcore"):
            raise
        from sweetiechat.generate import redact

        raise UserError(
            f"the model failed: {redact(f'{type(err).__name__}: {err}')[:300]}; the responses "
            f"so far are in {out}; rerun with --resume to continue"
        ) from None
    label = report["model"]
    console.print(results_table([(label, report)], published=True))
    shown: set[int] = set()
    for run in report["runs"]:
        gen = run.get("generation") or {}
        rate = gen.get("responses_per_s")
        if rate and run["seed"] not in shown:
            shown.add(run["seed"])
            console.print(
                f"{run['label']} seed {run['seed']}: {gen['responses']} responses "
                f"({', '.join(gen.get('modes', [run['mode']]))} context) in "
                f"{gen['seconds']:.0f} s ({rate:.2f}/s), {gen.get('cut_prompts', 0)} "
                "histories cut to fit"
            )
    console.print(f"wrote {out / 'generations.jsonl'}, {out / 'metrics.json'}")


class _Progress:
    """A rich progress bar on stderr over every response, or nothing."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=err_console,
                transient=True,
            )
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def start(self, total: int, done: int) -> None:
        if self._bar is not None:
            self._task = self._bar.add_task("responses", total=total, completed=done)

    def advance(self, _record: Any) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task)

    def phase(self, name: str) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, description=name)


def register(app: typer.Typer) -> None:
    """Add ``eval`` to the ``agent`` group."""
    app.command("eval")(evaluate)
