"""Dataset analysis (docs/method.md, "Measurements"): one streaming pass per file, bounded memory.

Counts (statistics, strategies) cover every dialogue. Pairwise and corpus statistics use
seeded uniform samples of documented size (reservoir sampling), so a 100,000-dialogue file
needs no more memory than a 5,000-dialogue one:

- all-pairs dialogue similarity: up to ``max_dialogues`` dialogues (default 5,000: 12.5M pairs);
- same-strategy response similarity: up to ``max_responses`` responses per strategy (2,000),
  for all 8 strategies (the report shows the 4 most used across the compared files);
- scenario-to-dialogue similarity: up to ``max_dialogues`` (scenario, dialogue) pairs;
- corpus Distinct-1/2/3: ``distinct_sample`` dialogues (1,300, as the paper; fewer if the
  file is smaller), counted in two forms (:mod:`sweetiechat.metrics.paper`): the paper's form
  (each dialogue one text of ``speaker: text`` lines; 1.82 / 19.76 / 49.38 on all of ESConv)
  and the per-utterance form (n-grams within each utterance; 2.14 / 22.90 / 57.59).

``on_progress(stage, done)`` is called as the work goes: ``("reading", dialogues read so far)``
every 100 dialogues, then once per later stage with ``done=0``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweetiechat.io import read_dialogues
from sweetiechat.metrics.paper import DistinctAccumulator, dialogue_document, token_ids
from sweetiechat.metrics.sampling import Reservoir
from sweetiechat.metrics.similarity import (
    SimilarityHistogram,
    paired_similarity,
    pairwise_similarity,
)
from sweetiechat.metrics.stats import DatasetStats, compute_stats
from sweetiechat.metrics.strategy import StrategyAnalysis
from sweetiechat.taxonomy import ProblemType, Strategy, parse_problem_type
from sweetiechat.tokenizers import Tokenizer
from sweetiechat.types import Dialogue

__all__ = [
    "AnalysisSettings",
    "DatasetAnalysis",
    "Progress",
    "analyze_dialogues",
    "analyze_file",
    "corpus_distinct",
    "dialogue_text",
]

#: ``on_progress(stage, done)``: a stage name and, while reading, the dialogues read so far.
Progress = Callable[[str, int], None]


def dialogue_text(dialogue: Dialogue) -> str:
    """The dialogue as one string, utterances joined by spaces, without speaker tags."""
    return " ".join(t.text for t in dialogue.turns)


@dataclass(frozen=True)
class AnalysisSettings:
    """Sample sizes and options (all documented in the report)."""

    max_dialogues: int = 5000
    max_responses: int = 2000
    distinct_sample: int = 1300
    seed: int = 0
    problem_type: str = "all"
    """``"all"`` for a table over every problem type, or one problem type's name."""


@dataclass
class DatasetAnalysis:
    """Everything the report shows about one file."""

    label: str
    file: str
    stats: DatasetStats
    strategies: StrategyAnalysis
    overall: SimilarityHistogram
    by_problem_type: dict[str, SimilarityHistogram]
    same_strategy: dict[str, SimilarityHistogram]
    scenario: SimilarityHistogram | None
    distinct: dict[str, Any]
    sampled_dialogues: int
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The file's part of ``report.json``."""
        return {
            "label": self.label,
            "file": self.file,
            "stats": self.stats.model_dump(),
            "strategies": self.strategies.summary() if self.strategies.has_strategies else None,
            "similarity": {
                "sampled_dialogues": self.sampled_dialogues,
                "overall": self.overall.summary(),
                "by_problem_type": {k: v.summary() for k, v in self.by_problem_type.items()},
                "same_strategy": {k: v.summary() for k, v in self.same_strategy.items()},
                "scenario": self.scenario.summary() if self.scenario else None,
            },
            "distinct": self.distinct,
            "notes": self.notes,
        }


@dataclass
class _Samples:
    settings: AnalysisSettings
    dialogues: Reservoir[tuple[str, ProblemType]] = field(init=False)
    distinct: Reservoir[Dialogue] = field(init=False)
    scenarios: Reservoir[tuple[str, str]] = field(init=False)
    responses: dict[Strategy, Reservoir[str]] = field(init=False)

    def __post_init__(self) -> None:
        s = self.settings
        self.dialogues = Reservoir(s.max_dialogues, f"{s.seed}:dialogues")
        self.distinct = Reservoir(s.distinct_sample, f"{s.seed}:distinct")
        self.scenarios = Reservoir(s.max_dialogues, f"{s.seed}:scenarios")
        self.responses = {x: Reservoir(s.max_responses, f"{s.seed}:{x.value}") for x in Strategy}

    def tap(
        self,
        dialogues: Iterable[Dialogue],
        strategy: StrategyAnalysis,
        on_progress: Progress | None = None,
    ) -> Iterator[Dialogue]:
        for i, d in enumerate(dialogues, 1):
            text = dialogue_text(d)
            self.dialogues.add((text, d.problem_type))
            self.distinct.add(d)
            if d.scenario:
                self.scenarios.add((d.scenario, text))
            for t in d.turns:
                if t.strategy is not None:
                    self.responses[t.strategy].add(t.text)
            strategy.add(d)
            if on_progress and i % 100 == 0:
                on_progress("reading", i)
            yield d


def _by_problem_type(
    sample: list[tuple[str, ProblemType]], wanted: str
) -> dict[str, SimilarityHistogram]:
    groups: dict[ProblemType, list[str]] = defaultdict(list)
    for text, ptype in sample:
        groups[ptype].append(text)
    if wanted != "all":
        target = parse_problem_type(wanted)
        groups = {target: groups.get(target, [])}
    return {p.value: pairwise_similarity(texts) for p, texts in sorted(groups.items())}


def corpus_distinct(dialogues: Iterable[Dialogue], tokenizer: Tokenizer) -> dict[str, Any]:
    """Corpus Distinct-1/2/3 of ``dialogues`` in both forms (fractions, with the counts).

    Returns ``{"dialogues": N, "paper": {...}, "per_utterance": {...}}``; each form holds
    ``distinct1``..``distinct3``, ``texts``, ``tokens`` and ``counts`` (unique and total
    n-grams per order).
    """
    paper, per_utterance = DistinctAccumulator(), DistinctAccumulator()
    for d in dialogues:
        paper.add(token_ids(tokenizer, dialogue_document(d)))
        for t in d.turns:
            per_utterance.add(token_ids(tokenizer, t.text))
    out: dict[str, Any] = {"dialogues": paper.texts}
    for key, acc in (("paper", paper), ("per_utterance", per_utterance)):
        form = acc.result(key)
        out[key] = {
            **{f"distinct{n}": form.value(n) for n in (1, 2, 3)},
            "texts": form.texts,
            "tokens": form.tokens,
            "counts": [c.model_dump() for c in form.counts],
        }
    return out


def analyze_file(
    path: str | Path,
    tokenizer: Tokenizer,
    settings: AnalysisSettings | None = None,
    *,
    label: str | None = None,
    on_progress: Progress | None = None,
) -> DatasetAnalysis:
    """Analyse one dialogue file (any supported format), streaming it once."""
    path = Path(path)
    return analyze_dialogues(
        read_dialogues(path),
        tokenizer,
        settings,
        label=label or path.stem,
        file=str(path),
        on_progress=on_progress,
    )


def analyze_dialogues(
    dialogues: Iterable[Dialogue],
    tokenizer: Tokenizer,
    settings: AnalysisSettings | None = None,
    *,
    label: str,
    file: str = "",
    on_progress: Progress | None = None,
) -> DatasetAnalysis:
    """Analyse a stream of dialogues (one file, or several files read as one dataset)."""
    settings = settings or AnalysisSettings()

    def stage(name: str) -> None:
        if on_progress:
            on_progress(name, 0)

    strategy = StrategyAnalysis()
    samples = _Samples(settings)
    stats = compute_stats(
        samples.tap(dialogues, strategy, on_progress), tokenizer, label=file or label
    )
    stage("dialogue similarity")
    sample = samples.dialogues.items
    notes = []
    if stats.dialogues > settings.max_dialogues:
        notes.append(
            f"pairwise similarity uses a seeded sample of {settings.max_dialogues:,} of "
            f"{stats.dialogues:,} dialogues"
        )
    overall = pairwise_similarity([t for t, _ in sample])
    if overall.pairs == 0:
        notes.append("fewer than two dialogues: similarity is undefined (n/a)")
    same_strategy: dict[str, SimilarityHistogram] = {}
    stage("response similarity")
    if strategy.has_strategies:
        for s in Strategy:
            if samples.responses[s].items:
                same_strategy[s.value] = pairwise_similarity(samples.responses[s].items)
    else:
        notes.append("no supporter turn has a strategy: strategy sections skipped")
    scenario = None
    stage("scenario similarity")
    if samples.scenarios.items:
        left, right = zip(*samples.scenarios.items, strict=True)
        scenario = paired_similarity(left, right)
    else:
        notes.append("no dialogue has a scenario: scenario similarity skipped")
    stage("Distinct-n")
    distinct = corpus_distinct(samples.distinct.items, tokenizer)
    stage("problem-type similarity")
    by_problem_type = _by_problem_type(sample, settings.problem_type)
    return DatasetAnalysis(
        label=label,
        file=file,
        stats=stats,
        strategies=strategy,
        overall=overall,
        by_problem_type=by_problem_type,
        same_strategy=same_strategy,
        scenario=scenario,
        distinct=distinct,
        sampled_dialogues=len(sample),
        notes=notes,
    )
