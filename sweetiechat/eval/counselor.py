"""Evaluate a strategy counselor on strategy examples (one per supporter turn).

:func:`evaluate_counselor` asks the counselor for a strategy at every example's context and
writes, to ``out_dir``:

- ``predictions.jsonl``: one line per supporter turn, appended as it is decided, so a crash
  loses at most the turn in flight (``resume=True`` skips the turns already there)::

      {"dialogue_id": "test-0007", "turn_index": 3, "gold": "Question",
       "pred": "Question", "probs": {"Question": 0.61, ...} | null, "fallback": false}

- ``metrics.json``: :class:`~sweetiechat.eval.metrics.CounselorMetrics` (fractions in 0–1);
- ``confusion.png`` and ``shares.png`` (predicted vs gold strategy shares).

Counselors with a ``select_batch(dialogues)`` method (the classifier) are run in batches;
the others through ``aselect`` with bounded concurrency.

Example (the zero-shot counselor on a few ESConv test dialogues)::

    from sweetiechat.agents.likelihood import LikelihoodCounselor
    from sweetiechat.trainer.dataset import load_strategy_examples
    examples = load_strategy_examples("esconv/test.json", limit=5)
    report = evaluate_counselor(LikelihoodCounselor(), examples, Path("eval-zero-shot"))
    print(report.metrics.macro_f1)
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sweetiechat._async import run_sync
from sweetiechat.agents.counselor import CounselorAgent, StrategyChoice
from sweetiechat.errors import UserError
from sweetiechat.eval.metrics import CounselorMetrics, score_predictions
from sweetiechat.io import JsonlWriter
from sweetiechat.taxonomy import Strategy
from sweetiechat.types import Dialogue

__all__ = [
    "CounselorReport",
    "Example",
    "Prediction",
    "aevaluate_counselor",
    "evaluate_counselor",
    "read_predictions",
]

PREDICTIONS = "predictions.jsonl"
METRICS = "metrics.json"


class Example(Protocol):
    """What an evaluation example provides (``sweetiechat.trainer.dataset.StrategyExample``)."""

    @property
    def dialogue_id(self) -> str: ...
    @property
    def turn_index(self) -> int: ...
    @property
    def context(self) -> Dialogue: ...
    @property
    def gold(self) -> Strategy: ...


@dataclass(frozen=True)
class Prediction:
    """The counselor's decision at one supporter turn (one line of ``predictions.jsonl``)."""

    dialogue_id: str
    """The dialogue the turn belongs to."""
    turn_index: int
    """Index of the supporter turn in the full dialogue."""
    gold: Strategy
    """The strategy the human supporter used."""
    pred: Strategy
    """The counselor's choice."""
    probs: dict[Strategy, float] | None = None
    """The counselor's probability of each strategy, when it gives them."""
    fallback: bool = False
    """True when the counselor's answer was unusable and it fell back to a default."""

    def to_record(self) -> dict[str, Any]:
        """The JSON line."""
        probs = None if self.probs is None else {s.value: p for s, p in self.probs.items()}
        return {
            "dialogue_id": self.dialogue_id,
            "turn_index": self.turn_index,
            "gold": self.gold.value,
            "pred": self.pred.value,
            "probs": probs,
            "fallback": self.fallback,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Prediction:
        """Parse a JSON line written by :meth:`to_record`."""
        probs = record.get("probs")
        return cls(
            dialogue_id=str(record["dialogue_id"]),
            turn_index=int(record["turn_index"]),
            gold=Strategy(record["gold"]),
            pred=Strategy(record["pred"]),
            probs=None if probs is None else {Strategy(k): float(v) for k, v in probs.items()},
            fallback=bool(record.get("fallback", False)),
        )


@dataclass(frozen=True)
class CounselorReport:
    """The result of :func:`evaluate_counselor`."""

    metrics: CounselorMetrics
    """The scores (what ``metrics.json`` holds)."""
    predictions: list[Prediction]
    """One decision per example, in the examples' order."""
    files: dict[str, Path] = field(default_factory=dict)
    """What was written: ``predictions``, ``metrics``, ``confusion``, ``shares``."""


def read_predictions(path: str | Path) -> list[Prediction]:
    """Read a ``predictions.jsonl`` (a torn last line, left by a crash, is skipped).

    Raises:
        UserError: a line that is not a prediction record (names the file and line).
    """
    path = Path(path)
    out: list[Prediction] = []
    lines = path.read_text(encoding="utf-8").split("\n")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            out.append(Prediction.from_record(json.loads(line)))
        except (json.JSONDecodeError, KeyError, ValueError, TypeError) as err:
            if number == len(lines):  # torn tail: no newline after it
                break
            raise UserError(f"{path}:{number}: not a prediction record ({err})") from None
    return out


def _key(dialogue_id: str, turn_index: int) -> tuple[str, int]:
    return (dialogue_id, turn_index)


async def _decide_batched(
    counselor: Any, contexts: list[Dialogue], concurrency: int
) -> list[StrategyChoice]:
    select_batch: Callable[[list[Dialogue]], list[StrategyChoice]] | None = getattr(
        counselor, "select_batch", None
    )
    if callable(select_batch):
        choices = await asyncio.to_thread(select_batch, contexts)
        if len(choices) != len(contexts):
            raise RuntimeError(f"select_batch gave {len(choices)} choices for {len(contexts)}")
        return list(choices)
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(context: Dialogue) -> StrategyChoice:
        async with gate:
            return await counselor.aselect(context)

    return list(await asyncio.gather(*(one(c) for c in contexts)))


async def aevaluate_counselor(
    counselor: CounselorAgent,
    examples: Sequence[Example],
    out_dir: Path | None,
    *,
    progress: bool = True,
    batch_size: int = 32,
    concurrency: int = 8,
    resume: bool = False,
    plots: bool = True,
    extra: dict[str, str | float | int | None] | None = None,
) -> CounselorReport:
    """Async :func:`evaluate_counselor`."""
    if not examples:
        raise UserError("no examples to evaluate: the data has no supporter turn with a strategy")
    if batch_size < 1:
        raise UserError(f"batch_size must be at least 1, got {batch_size}")
    name = str(getattr(counselor, "name", type(counselor).__name__))
    done: dict[tuple[str, int], Prediction] = {}
    writer: JsonlWriter | None = None
    files: dict[str, Path] = {}
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        pred_path = out_dir / PREDICTIONS
        files["predictions"] = pred_path
        if resume and pred_path.exists():
            done = {_key(p.dialogue_id, p.turn_index): p for p in read_predictions(pred_path)}
        else:
            pred_path.unlink(missing_ok=True)
        writer = JsonlWriter(pred_path, fsync=False)
    todo = [e for e in examples if _key(e.dialogue_id, e.turn_index) not in done]
    seconds = 0.0
    try:
        with _progress_bar(progress, len(examples), len(examples) - len(todo), name) as advance:
            for start in range(0, len(todo), batch_size):
                chunk = todo[start : start + batch_size]
                began = time.perf_counter()
                choices = await _decide_batched(counselor, [e.context for e in chunk], concurrency)
                seconds += time.perf_counter() - began
                for example, choice in zip(chunk, choices, strict=True):
                    prediction = Prediction(
                        dialogue_id=example.dialogue_id,
                        turn_index=example.turn_index,
                        gold=Strategy(example.gold),
                        pred=Strategy(choice.strategy),
                        probs=choice.probabilities,
                        fallback=choice.fallback,
                    )
                    done[_key(example.dialogue_id, example.turn_index)] = prediction
                    if writer is not None:
                        writer.write(prediction.to_record())
                advance(len(chunk))
    finally:
        if writer is not None:
            writer.close()
    predictions = [done[_key(e.dialogue_id, e.turn_index)] for e in examples]
    for p, e in zip(predictions, examples, strict=True):
        if p.gold != e.gold:
            raise UserError(
                f"{files.get('predictions')}: turn {e.turn_index} of {e.dialogue_id} has gold "
                f"{p.gold.value!r} but the data says {Strategy(e.gold).value!r}; the predictions "
                "are from other data: evaluate into a new folder, or without resume"
            )
    metrics = score_predictions(
        [p.gold for p in predictions],
        [p.pred for p in predictions],
        counselor=name,
        fallbacks=sum(p.fallback for p in predictions),
        seconds=seconds if todo else None,
        decided=len(todo),
        extra=extra,
    )
    if out_dir is not None:
        files.update(write_metrics(metrics, out_dir, plots=plots))
    return CounselorReport(metrics=metrics, predictions=predictions, files=files)


def evaluate_counselor(
    counselor: CounselorAgent,
    examples: Sequence[Example],
    out_dir: Path | None,
    *,
    progress: bool = True,
    batch_size: int = 32,
    concurrency: int = 8,
    resume: bool = False,
    plots: bool = True,
    extra: dict[str, str | float | int | None] | None = None,
) -> CounselorReport:
    """Run ``counselor`` on every example and score it against the gold strategies.

    Args:
        counselor: any counselor; one with ``select_batch(dialogues)`` is run in batches.
        examples: strategy examples (``sweetiechat.trainer.dataset.load_strategy_examples``).
        out_dir: where to write ``predictions.jsonl``, ``metrics.json`` and the PNGs;
            ``None`` writes nothing.
        progress: show a rich progress bar on stderr.
        batch_size: examples per ``select_batch`` call (and per progress step).
        concurrency: ``aselect`` calls in flight at once, for counselors without batching.
        resume: keep the decisions already in ``out_dir/predictions.jsonl`` and decide only
            the missing turns (otherwise the file is started afresh).
        plots: write the confusion-matrix and shares PNGs (needs matplotlib).
        extra: notes recorded in ``metrics.json`` (data file, split, settings).

    Returns:
        The metrics, the predictions in the examples' order, and the files written.

    Raises:
        UserError: no examples, or resumed predictions whose gold labels disagree with the data.
    """
    return run_sync(
        aevaluate_counselor(
            counselor,
            examples,
            out_dir,
            progress=progress,
            batch_size=batch_size,
            concurrency=concurrency,
            resume=resume,
            plots=plots,
            extra=extra,
        )
    )


def write_metrics(
    metrics: CounselorMetrics, out_dir: Path, *, plots: bool = True
) -> dict[str, Path]:
    """Write ``metrics.json`` (atomically) and, with ``plots``, the two PNGs to ``out_dir``."""
    from sweetiechat.eval.plots import plot_confusion, plot_shares

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / METRICS
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(metrics.model_dump_json(indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    files = {"metrics": path}
    if plots:
        files["confusion"] = plot_confusion(metrics, out_dir / "confusion.png")
        files["shares"] = plot_shares(metrics, out_dir / "shares.png")
    return files


class _progress_bar:
    """A rich progress bar on stderr, or nothing."""

    def __init__(self, enabled: bool, total: int, completed: int, name: str) -> None:
        self.enabled, self.total, self.completed, self.name = enabled, total, completed, name
        self._progress: Any = None

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            return lambda _n: None
        from rich.console import Console
        from rich.markup import escape
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self._progress.start()
        task = self._progress.add_task(
            escape(f"evaluate {self.name}"[:60]), total=self.total, completed=self.completed
        )
        return lambda n: self._progress.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
