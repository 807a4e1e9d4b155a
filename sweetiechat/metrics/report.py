"""The analysis report: ``report.md``, ``report.json`` and PNG plots for one or more files,
compared side by side."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sweetiechat.io import read_dialogues
from sweetiechat.metrics import plots
from sweetiechat.metrics.analysis import (
    AnalysisSettings,
    DatasetAnalysis,
    analyze_dialogues,
    analyze_file,
)
from sweetiechat.taxonomy import Strategy
from sweetiechat.tokenizers import Tokenizer

__all__ = ["ReportProgress", "labels_for", "write_report"]

#: ``on_progress(dataset label, stage, done)``; see :data:`sweetiechat.metrics.analysis.Progress`.
ReportProgress = Callable[[str, str, int], None]


def labels_for(paths: Sequence[Path]) -> list[str]:
    """Short, unique labels: file stems, with the parent folder where stems collide."""
    stems = [p.stem for p in paths]
    labels = [f"{p.parent.name}/{p.stem}" if stems.count(p.stem) > 1 else p.stem for p in paths]
    return [
        f"{label} ({i + 1})" if labels.count(label) > 1 else label for i, label in enumerate(labels)
    ]


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    return [_row(*header), _row(*["---"] * len(header)), *(_row(*r) for r in rows)]


def top_strategies(results: Sequence[DatasetAnalysis], k: int = 4) -> list[str]:
    """The ``k`` most used strategies over all the compared files together."""
    total: Counter[Strategy] = Counter()
    for r in results:
        total.update(r.strategies.counts)
    return [s.value for s, _ in total.most_common(k)]


def _markdown(
    results: list[DatasetAnalysis], images: dict[str, str], settings: AnalysisSettings
) -> str:
    labels = [r.label for r in results]
    out = ["# Dataset analysis", ""]
    out += [f"- **{r.label}**: `{r.file}`" for r in results]
    out += [
        "",
        f"Tokenizer: {results[0].stats.tokenizer}. Seed {settings.seed}; pairwise statistics on "
        f"up to {settings.max_dialogues:,} dialogues and {settings.max_responses:,} responses "
        f"per strategy (seeded samples); Distinct-n over up to {settings.distinct_sample:,} "
        "sampled dialogues, in two forms (see below).",
        "",
        "## Statistics",
        "",
    ]
    stat_rows: list[list[Any]] = []
    for r in results:
        s = r.stats
        stat_rows.append(
            [
                r.label,
                f"{s.dialogues:,}",
                f"{s.utterances:,}",
                _fmt(s.avg_utterances_per_dialogue, 2),
                _fmt(s.avg_utterance_tokens, 2),
                _fmt(s.paper.avg_utterance_tokens, 2),
                _fmt(s.roles["seeker"].avg_per_dialogue, 2),
                _fmt(s.roles["supporter"].avg_per_dialogue, 2),
                _fmt(s.roles["seeker"].avg_tokens, 2),
                _fmt(s.roles["supporter"].avg_tokens, 2),
            ]
        )
    out += _table(
        [
            "dataset",
            "dialogues",
            "utterances",
            "utt./dialogue",
            "tokens/utt. (per utterance)",
            "tokens/utt. (paper form)",
            "seeker utt./dlg",
            "supporter utt./dlg",
            "seeker tokens",
            "supporter tokens",
        ],
        stat_rows,
    )
    with_strategies = [r for r in results if r.strategies.has_strategies]
    out += ["", "## Strategies", ""]
    if not with_strategies:
        out.append("_Skipped: no dataset has strategy labels._")
    else:
        skipped = [r.label for r in results if not r.strategies.has_strategies]
        if skipped:
            out += [f"_No strategy labels in: {', '.join(skipped)}._", ""]
        rows: list[list[Any]] = [
            [s.value, *(f"{100 * r.strategies.shares()[s.value]:.2f}%" for r in with_strategies)]
            for s in Strategy
        ]
        out += _table(["strategy", *(r.label for r in with_strategies)], rows)
        out += ["", f"![strategy shares]({images['shares']})", "", "### Strategy transitions", ""]
        out += [
            "Share of each strategy in 6 equal intervals of conversation progress.",
            "",
            f"![strategy transitions]({images['progress']})",
            "",
            "### Distinct strategies per dialogue",
            "",
        ]
        rows = [
            [r.label, _fmt(r.strategies.summary()["mean_distinct_per_dialogue"], 2)]
            for r in with_strategies
        ]
        out += _table(["dataset", "mean distinct strategies"], rows)
        out += ["", f"![distinct strategies]({images['distinct']})"]
    out += [
        "",
        "## Diversity",
        "",
        "### Inter-dialogue similarity (TF-IDF cosine, lower = more diverse)",
        "",
    ]
    rows = [
        [r.label, f"{r.overall.pairs:,}", _fmt(r.overall.mean), _fmt(r.overall.median)]
        for r in results
    ]
    out += _table(["dataset", "pairs", "mean", "median"], rows)
    if "dialogue" in images:
        out += ["", f"![dialogue similarity]({images['dialogue']})"]
    types = sorted({k for r in results for k in r.by_problem_type})
    if types:
        out += ["", f"Within one problem type ({settings.problem_type}): mean / median.", ""]
        rows = []
        for t in types:
            cells = []
            for r in results:
                h = r.by_problem_type.get(t)
                cells.append(f"{_fmt(h.mean)} / {_fmt(h.median)}" if h and h.pairs else "n/a")
            rows.append([t, *cells])
        out += _table(["problem type", *labels], rows)
        if "problem_type" in images:
            out += ["", f"![problem-type similarity]({images['problem_type']})"]
    out += ["", "### Same-strategy response similarity", ""]
    if not with_strategies:
        out.append("_Skipped: no strategy labels._")
    else:
        top = top_strategies(results)
        rows = [
            [r.label, s, f"{h.pairs:,}", _fmt(h.mean), _fmt(h.median)]
            for s in top
            for r in with_strategies
            if (h := r.same_strategy.get(s)) is not None
        ]
        out += [
            f"Supporter responses with the same strategy: the 4 most used ({', '.join(top)}).",
            "",
        ]
        out += _table(["dataset", "strategy", "pairs", "mean", "median"], rows)
        if "responses" in images:
            out += ["", f"![response similarity]({images['responses']})"]
    out += ["", "### Scenario-to-dialogue similarity (higher = stays on topic)", ""]
    with_scenarios = [r for r in results if r.scenario is not None]
    if not with_scenarios:
        out.append("_Skipped: no dataset has scenarios._")
    else:
        rows = [
            [r.label, r.scenario.pairs, _fmt(r.scenario.mean), _fmt(r.scenario.median)]
            for r in with_scenarios
            if r.scenario
        ]
        out += _table(["dataset", "dialogues", "mean", "median"], rows)
        if "scenario" in images:
            out += ["", f"![scenario similarity]({images['scenario']})"]
    out += [
        "",
        "Tokens per utterance: *per utterance* tokenizes each utterance on its own; the *paper "
        "form* tokenizes each raw dialogue as one text of `speaker: text` lines (how the paper "
        "counted: 21.17 on all of ESConv).",
    ]
    out += ["", "### Corpus Distinct-n (%)", ""]
    out += [
        "*Paper form*: each dialogue one text of `speaker: text` lines, n-grams crossing lines "
        "but not dialogues (all of ESConv: 1.82 / 19.76 / 49.38). *Per utterance*: n-grams "
        "within each utterance (all of ESConv: 2.14 / 22.90 / 57.59).",
        "",
    ]
    rows = []
    for r in results:
        for key, name in (("paper", "paper form"), ("per_utterance", "per utterance")):
            form = r.distinct[key]
            rows.append(
                [
                    r.label,
                    name,
                    r.distinct["dialogues"],
                    *(_pct(form[f"distinct{n}"]) for n in (1, 2, 3)),
                    " / ".join(f"{c['unique']:,}" for c in form["counts"]),
                ]
            )
    out += _table(
        [
            "dataset",
            "form",
            "sampled dialogues",
            "Distinct-1",
            "Distinct-2",
            "Distinct-3",
            "unique 1/2/3-grams",
        ],
        rows,
    )
    notes = [f"- {r.label}: {n}" for r in results for n in r.notes]
    if notes:
        out += ["", "## Notes", "", *notes]
    return "\n".join(out) + "\n"


def write_report(
    paths: Sequence[str | Path],
    out_dir: str | Path,
    tokenizer: Tokenizer,
    settings: AnalysisSettings | None = None,
    *,
    together: bool = False,
    on_progress: ReportProgress | None = None,
) -> dict[str, Any]:
    """Analyse ``paths`` and write ``report.md``, ``report.json`` and the PNGs to ``out_dir``.

    With ``together``, all files are also analysed as one dataset (labelled ``all``), e.g.
    ESConv's three splits as the whole corpus. Returns the ``report.json`` content.
    """
    settings = settings or AnalysisSettings()
    files = [Path(p) for p in paths]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = []

    def progress_for(label: str) -> Callable[[str, int], None] | None:
        if on_progress is None:
            return None
        report = on_progress
        return lambda stage, done: report(label, stage, done)

    for path, label in zip(files, labels_for(files), strict=True):
        results.append(
            analyze_file(path, tokenizer, settings, label=label, on_progress=progress_for(label))
        )
    if together and len(files) > 1:
        results.append(
            analyze_dialogues(
                (d for path in files for d in read_dialogues(path)),
                tokenizer,
                settings,
                label="all",
                file=" + ".join(str(p) for p in files),
                on_progress=progress_for("all"),
            )
        )
    if on_progress:
        on_progress("report", "plots", 0)
    images: dict[str, str] = {}
    labelled = [r for r in results if r.strategies.has_strategies]
    if labelled:
        names = [r.label for r in labelled]
        analyses = [r.strategies for r in labelled]
        images["shares"] = plots.plot_strategy_shares(
            names, analyses, out / "strategy_shares.png"
        ).name
        images["progress"] = plots.plot_strategy_progress(
            names, analyses, out / "strategy_progress.png"
        ).name
        images["distinct"] = plots.plot_distinct_strategies(
            names, analyses, out / "distinct_strategies.png"
        ).name
    optional = {
        "dialogue": plots.plot_similarity(
            {"all dialogues": {r.label: r.overall for r in results}},
            out / "dialogue_similarity.png",
            title="Inter-dialogue similarity",
        ),
        "responses": plots.plot_similarity(
            {
                s: {r.label: r.same_strategy[s] for r in labelled if s in r.same_strategy}
                for s in top_strategies(results)
            },
            out / "response_similarity.png",
            title="Same-strategy response similarity",
        ),
        "scenario": plots.plot_similarity(
            {"scenario vs dialogue": {r.label: r.scenario for r in results if r.scenario}},
            out / "scenario_similarity.png",
            title="Scenario-to-dialogue similarity",
            ylabel="dialogues (%)",
        ),
    }
    if settings.problem_type != "all":
        optional["problem_type"] = plots.plot_similarity(
            {
                settings.problem_type: {
                    r.label: h for r in results for h in r.by_problem_type.values()
                }
            },
            out / "problem_type_similarity.png",
            title="Similarity within one problem type",
        )
    images.update({k: v.name for k, v in optional.items() if v is not None})
    report = {
        "settings": {
            "tokenizer": tokenizer.name,
            "seed": settings.seed,
            "max_dialogues": settings.max_dialogues,
            "max_responses": settings.max_responses,
            "distinct_sample": settings.distinct_sample,
            "problem_type": settings.problem_type,
        },
        "datasets": [r.to_json() for r in results],
        "images": images,
    }
    for name, text in (
        ("report.json", json.dumps(report, indent=2)),
        ("report.md", _markdown(results, images, settings)),
    ):  # each file whole or not at all
        tmp = out / f"{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out / name)
    return report
