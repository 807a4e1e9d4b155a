"""Crisis-detector evaluation: precision and recall on the development and held-out halves of
``benchmarks/data/crisis_eval.jsonl`` and on ``benchmarks/data/crisis_fresh.jsonl`` (once a
fresh held-out set; its errors have been read row by row, so it is development data now), per
layer and per category, side by side with the regular-expression list sweetiechat used before
(15 patterns), and messages per second with and without the fine-tuned layer.
Writes the tables into docs/safety.md and a chart into docs/safety_eval.png.

Also measures the false-alarm side on real, ordinary emotional-support text: the share of
ESConv seeker turns flagged (``valid``, used for tuning, and ``test``), each read in context
(with the seeker's earlier turns), as the generator reads them.

``--blind`` evaluates a blind set and nothing else, and writes its table under its own mark
in docs/safety.md: ``--blind-file`` names the set (default ``benchmarks/data/crisis_blind.jsonl``,
blind set v1, mark ``<!-- blind-results -->``; ``crisis_blind2.jsonl`` writes under
``<!-- blind2-results -->``, ``crisis_blind3.jsonl`` under ``<!-- blind3-results -->``: the mark
comes from the file name). Without ``--blind`` no blind set is ever read. Blind sets v1 to v4
and v7 were each scored once and are training data now; blind sets v5 and v6, each scored once,
choose the fine-tuned layer's settings (development data, never trained on); blind set v8
(``UNREAD``) is refused by every script that trains, tunes or compares.

    python benchmarks/safety_eval.py [--repeats 3] [--no-write] [--esconv-dir DIR]
    python benchmarks/safety_eval.py --blind [--blind-file benchmarks/data/crisis_blind3.jsonl]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _report import machine, update_section

from sweetiechat.quality.risk import RiskDetector
from sweetiechat.quality.semantic import SemanticLayer

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data" / "crisis_eval.jsonl"
FRESH = ROOT / "benchmarks" / "data" / "crisis_fresh.jsonl"
BLIND = ROOT / "benchmarks" / "data" / "crisis_blind.jsonl"
#: Everyday sentences with a risk-looking word, written apart from every training file (a
#: check of single-word shortcuts; never trained or tuned on).
EVERYDAY = ROOT / "benchmarks" / "data" / "crisis_everyday_check.jsonl"
SPLITS = ("dev", "heldout", "fresh")
SPLIT_NAMES = {
    "dev": "dev",
    "heldout": "old held-out (looked at 7 times)",
    "fresh": "fresh (development now)",
    "blind": "blind",
}
DOC = ROOT / "docs" / "safety.md"
ESCONV = ROOT.parent / "shared" / "data" / "esconv"  # ESConv beside the checkout (never copied)
BLIND_MARK = "<!-- blind-results -->"
#: Blind sets still to be scored once, by the lead (only with ``--blind``): any file whose name
#: starts with one of these is refused by the scripts that train, tune or compare detectors.
UNREAD = ("crisis_blind14",)
CATEGORIES = ["suicidal_ideation", "self_harm", "harm_from_others", "means_request"]
#: The detector without the fine-tuned layer (the default until it was switched on).
WITHOUT_LABEL = "without fine-tuned (`finetuned=False`): patterns + prototypes + head + context"
#: What ``RiskDetector()`` runs: every offline layer, the fine-tuned one included.
DEFAULT_LABEL = "default (shipped): all offline layers, fine-tuned included"

#: The list sweetiechat/safety.py used before the layered detector (the baseline).
LEGACY = re.compile(
    "|".join(
        [
            r"\bsuicid\w*",
            r"\bkill(?:ing)? my ?self\b",
            r"\bend(?:ing)? it all\b",
            r"\bend(?:ing)? my (?:own )?life\b",
            r"\btake my (?:own )?life\b",
            r"\b(?:hurt|harm|cut|cutting|burn)(?:ing)? my ?self\b",
            r"\bself[- ]?harm\w*",
            r"\boverdos\w*",
            r"\b(?:don'?t|do not) want to (?:live|be alive|exist|wake up)\b",
            r"\bbetter off (?:dead|without me)\b",
            r"\bbetter off if i (?:was|were|wasn'?t|weren'?t) (?:dead|here|around|alive)\b",
            r"\b(?:wish|want) (?:i was|i were|to be) dead\b",
            r"\b(?:want|wanted|wanting|going) to die\b",
            r"\bwish i (?:was|were|had) never (?:been )?born\b",
            r"\bno (?:reason|point) (?:to|in) (?:live|living|go on|going on)\b",
        ]
    ),
    re.IGNORECASE,
)

Predict = Callable[[Sequence[dict]], list[tuple[bool, str]]]


def load() -> list[dict]:
    """The evaluation rows: text, context, category, kind, split (dev, heldout, fresh)."""
    return [
        json.loads(line)
        for path in (DATA, FRESH)
        for line in path.read_text().splitlines()
        if line.strip()
    ]


def refuse_unread(names: Sequence[str | Path]) -> None:
    """Refuse any file name of a blind set that is still to be scored (``UNREAD``).

    Raises:
        SystemExit: naming the file, when one of ``names`` is an unread blind set.
    """
    for name in names:
        if Path(name).name.startswith(UNREAD):
            raise SystemExit(f"{name}: a blind set still to be scored; this script never reads it")


def blind_mark(path: Path) -> str:
    """The docs/safety.md mark a blind set's table goes under: ``<!-- blind-results -->`` for
    ``crisis_blind.jsonl``, ``<!-- blind2-results -->`` for ``crisis_blind2.jsonl``."""
    name = re.sub(r"[^a-z0-9]+", "-", path.stem.lower().removeprefix("crisis_")).strip("-")
    return f"<!-- {name or 'blind'}-results -->"


def load_blind(path: Path | None = None) -> list[dict]:
    """A blind set's rows, each given split ``blind`` (only with ``--blind``).

    Raises:
        SystemExit: naming the file and line, when it is missing or a line is not a JSON
            object with ``text`` and ``category``.
    """
    from sweetiechat.errors import UserError
    from sweetiechat.quality.finetune_train import read_rows

    path = BLIND if path is None else path
    try:
        rows = read_rows(path)
    except UserError as exc:
        raise SystemExit(str(exc)) from exc
    if not rows:
        raise SystemExit(f"{path}: no messages in the blind set")
    return [
        {"text": r.text, "category": r.category, "context": r.context, "split": "blind"}
        for r in rows
    ]


def methods(semantic: SemanticLayer) -> dict[str, Predict]:
    """Each configuration: rows -> [(risk, category)]."""
    patterns = RiskDetector(semantic=False)
    protos = RiskDetector(semantic=semantic, head=False, finetuned=False)
    without = RiskDetector(semantic=semantic, finetuned=False)
    tuned_only = RiskDetector(semantic=semantic, head=False, finetuned=True)
    tuned_only.threshold = 2.0  # the prototypes never decide: patterns + the fine-tuned layer
    full = RiskDetector(semantic=semantic)

    def legacy(rows: Sequence[dict]) -> list[tuple[bool, str]]:
        return [(bool(LEGACY.search(r["text"])), "?") for r in rows]

    def run(det: RiskDetector, ctx: bool) -> Predict:
        def predict(rows: Sequence[dict]) -> list[tuple[bool, str]]:
            contexts = [r["context"] if ctx else [] for r in rows]
            out = det.assess_many([r["text"] for r in rows], contexts)
            return [(a.risk, a.category) for a in out]

        return predict

    return {
        "old regex list (15)": legacy,
        "patterns": run(patterns, False),
        "patterns + prototypes": run(protos, False),
        WITHOUT_LABEL: run(without, True),
        "patterns + fine-tuned (no context)": run(tuned_only, False),
        "patterns + fine-tuned, in context": run(tuned_only, True),
        DEFAULT_LABEL: run(full, True),
    }


def scores(rows: Sequence[dict], preds: Sequence[tuple[bool, str]]) -> dict[str, float]:
    """Precision, recall, F1 and per-category recall (risk detected)."""
    gold = [r["category"] != "none" for r in rows]
    tp = sum(p[0] and g for p, g in zip(preds, gold, strict=True))
    fp = sum(p[0] and not g for p, g in zip(preds, gold, strict=True))
    fn = sum(g and not p[0] for p, g in zip(preds, gold, strict=True))
    prec = tp / (tp + fp) if tp + fp else 1.0
    rec = tp / (tp + fn) if tp + fn else 1.0
    out = {"precision": prec, "recall": rec, "fp": fp, "fn": fn}
    out["f1"] = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    for c in CATEGORIES:
        idx = [i for i, r in enumerate(rows) if r["category"] == c]
        n = len(idx) or float("nan")  # a set without this category: nan, not a crash
        out[c] = sum(preds[i][0] for i in idx) / n
        out[c + "_exact"] = sum(preds[i][1] == c for i in idx) / n
    return out


def _clear(det: RiskDetector) -> None:
    """Empty the detector's caches (a cold start for timing)."""
    if det.semantic is not None:
        det.semantic._cache.clear()
    if det.finetuned is not None:
        det.finetuned._cache.clear()


def speed(rows: Sequence[dict], repeats: int, semantic: SemanticLayer) -> dict[str, list[float]]:
    """Messages per second and CPU ms per message, cold caches, per run."""
    texts = [r["text"] for r in rows]
    contexts = [r["context"] for r in rows]
    out: dict[str, list[float]] = {}
    patterns = RiskDetector(semantic=False)
    previous = RiskDetector(semantic=semantic, finetuned=False)
    full = RiskDetector(semantic=semantic)
    full.assess_many(["warm up"], [["the model loads"]])
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(20):
            patterns.assess_many(texts, contexts)
        out.setdefault("patterns", []).append(20 * len(texts) / (time.perf_counter() - t))
        for name, det in (("previous", previous), ("full", full)):
            _clear(det)
            t, c = time.perf_counter(), time.process_time()
            det.assess_many(texts, contexts)
            out.setdefault(name, []).append(len(texts) / (time.perf_counter() - t))
            out.setdefault(name + "_cpu_ms", []).append(
                1000 * (time.process_time() - c) / len(texts)
            )
        _clear(full)
        t = time.perf_counter()
        for text, ctx in zip(texts, contexts, strict=True):
            full.assess(text, ctx)
        out.setdefault("batch1", []).append(len(texts) / (time.perf_counter() - t))
    return out


def esconv_flags(path: Path, det: RiskDetector) -> dict[str, Any]:
    """Flag rate of a detector on the seeker turns of an ESConv split, in context."""
    from sweetiechat.io import read_dialogues

    texts: list[str] = []
    contexts: list[list[str]] = []
    sizes = []
    for dialogue in read_dialogues(path):
        seeker = [t.text for t in dialogue.turns if t.role == "seeker"]
        texts.extend(seeker)
        contexts.extend(seeker[:i] for i in range(len(seeker)))
        sizes.append(len(seeker))
    t, c = time.perf_counter(), time.process_time()
    out = det.assess_many(texts, contexts)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    flagged = [a for a in out if a.risk]
    flagged_dialogues, i = 0, 0
    for n in sizes:
        flagged_dialogues += any(a.risk for a in out[i : i + n])
        i += n
    return {
        "dialogues": len(sizes),
        "turns": len(texts),
        "flagged": len(flagged),
        "flagged_dialogues": flagged_dialogues,
        "by_category": Counter(a.category for a in flagged),
        "by_layer": Counter(a.layer for a in flagged),
        "msgs_per_s": len(texts) / wall,
        "cpu_ms": 1000 * cpu / len(texts),
    }


def everyday_table(semantic: SemanticLayer) -> list[str]:
    """How many of the everyday check sentences each detector flags (alone, no context)."""
    texts = [json.loads(line)["text"] for line in EVERYDAY.read_text().splitlines() if line]
    lines = [
        f"Everyday check: {len(texts)} ordinary sentences with a risk-looking word (a burn, a "
        "cut, an end, leaving, pills, a bridge), written apart from every training file and "
        "never tuned on, each read alone:",
        "",
        "| detector | flagged | which |",
        "|---|---|---|",
    ]
    for name, det in (
        (
            "without fine-tuned (`finetuned=False`)",
            RiskDetector(semantic=semantic, finetuned=False),
        ),
        ("default (shipped, fine-tuned on)", RiskDetector(semantic=semantic)),
    ):
        out = det.assess_many(texts, [[] for _ in texts])
        hits = [
            f'"{t}" ({a.layer} {a.score:.2f})' for t, a in zip(texts, out, strict=True) if a.risk
        ]
        lines.append(f"| {name} | {len(hits)} of {len(texts)} | {'; '.join(hits) or '-'} |")
    return lines


def fmt(values: list[float]) -> str:
    """Median (min-max)."""
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f})"


def tables(
    rows: list[dict], splits: Sequence[str], semantic: SemanticLayer
) -> tuple[list[str], dict]:
    """The precision/recall table and the per-category tables for ``splits``."""
    results = {}
    predictors = methods(semantic)
    for name, predict in predictors.items():
        for split in splits:
            part = [r for r in rows if r["split"] == split]
            results[name, split] = scores(part, predict(part))
    head = "| detector | " + " | ".join(
        f"{SPLIT_NAMES[s]} P | {SPLIT_NAMES[s]} R | FP / FN" for s in splits
    )
    lines = [head + " |", "|---|" + "---|---|---|" * len(splits)]
    for name in predictors:
        cells = []
        for s in splits:
            r = results[name, s]
            cells.append(
                f"{r['precision']:.3f} | {r['recall']:.3f} | {r['fp']:.0f} / {r['fn']:.0f}"
            )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for split in splits:
        lines += [
            "",
            f"Recall per category, {SPLIT_NAMES[split]} (risk detected; in brackets: with the "
            "right category):",
            "",
            "| detector | " + " | ".join(CATEGORIES) + " |",
            "|---|" + "---|" * len(CATEGORIES),
        ]
        for name in predictors:
            h = results[name, split]
            cells = [
                f"{h[c]:.2f}" + ("" if name.startswith("old") else f" ({h[c + '_exact']:.2f})")
                for c in CATEGORIES
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines, results


def report(rows: list[dict], repeats: int, esconv: Path | None = None) -> tuple[str, dict]:
    """Run everything and return the markdown."""
    semantic = SemanticLayer()
    n = {s: sum(r["split"] == s for r in rows) for s in SPLITS}
    pos = {s: sum(r["split"] == s and r["category"] != "none" for r in rows) for s in n}
    lines = [
        f"Evaluation sets: `crisis_eval.jsonl`, development half {n['dev']} messages "
        f"({pos['dev']} risk), old held-out half {n['heldout']} ({pos['heldout']} risk); "
        f"`crisis_fresh.jsonl` {n['fresh']} ({pos['fresh']} risk), development data now. "
        f"Machine: {machine()}.",
        "",
    ]
    table, results = tables(rows, SPLITS, semantic)
    lines += table
    sp = speed(rows, repeats, semantic)
    lines += [
        "",
        f"Speed over the {len(rows)} messages (with their context turns), median (min-max) of "
        f"{repeats} runs, cold caches, one torch thread:",
        "",
        "| configuration | messages/s | CPU ms per message |",
        "|---|---|---|",
        f"| patterns only | {fmt(sp['patterns'])} | - |",
        f"| without the fine-tuned layer, batched | {fmt(sp['previous'])} | "
        f"{statistics.median(sp['previous_cpu_ms']):.1f} |",
        f"| default (fine-tuned layer on), batched (`assess_many`) | {fmt(sp['full'])} | "
        f"{statistics.median(sp['full_cpu_ms']):.1f} |",
        f"| default (fine-tuned layer on), one call per message (`assess`) | {fmt(sp['batch1'])} "
        "| - |",
    ]
    if EVERYDAY.is_file():
        lines += ["", *everyday_table(semantic)]
    if esconv is not None and esconv.is_dir():
        lines += [
            "",
            "Flags on ordinary support text: ESConv seeker turns, each read with the seeker's "
            "earlier turns (as `generate` reads them); `valid` was used for tuning, `test` was "
            "not:",
            "",
            "| split | detector | turns | flagged | flag rate | dialogues with a flag "
            "| by category | by layer | CPU ms per turn |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        full = RiskDetector(semantic=semantic)
        previous = RiskDetector(semantic=semantic, finetuned=False)
        for split in ("valid", "test"):
            path = esconv / f"{split}.json"
            if not path.is_file():
                continue
            for name, det in (
                ("default (shipped, fine-tuned on)", full),
                ("without fine-tuned", previous),
            ):
                es = esconv_flags(path, det)
                cats = ", ".join(f"{k} {v}" for k, v in sorted(es["by_category"].items()))
                layers = ", ".join(f"{k} {v}" for k, v in sorted(es["by_layer"].items()))
                lines.append(
                    f"| {split} | {name} | {es['turns']:,} | {es['flagged']} | "
                    f"{es['flagged'] / es['turns']:.1%} | {es['flagged_dialogues']} of "
                    f"{es['dialogues']} | {cats} | {layers} | {es['cpu_ms']:.1f} |"
                )
                print(lines[-1], flush=True)
        lines += [
            "",
            "(CPU ms per turn of the detector without the fine-tuned layer is measured after "
            "the default one, with the prototypes' embeddings already cached, so it "
            "undercounts.)",
        ]
    return "\n".join(lines), results


def blind_report(path: Path | None = None) -> str:
    """A blind set's tables (only with ``--blind``)."""
    path = BLIND if path is None else path
    rows = load_blind(path)
    pos = sum(r["category"] != "none" for r in rows)
    lines = [
        f"Blind set `{path.name}`: {len(rows)} messages ({pos} risk), scored once. "
        f"Machine: {machine()}.",
        "",
    ]
    table, _ = tables(rows, ("blind",), SemanticLayer())
    return "\n".join(lines + table)


def plot(results: dict, path: Path) -> None:
    """Precision and recall per detector as a bar chart, per evaluation set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(k[0] for k in results))
    fig, axes = plt.subplots(1, 3, figsize=(18, 4.4), sharey=True)
    x = range(len(names))
    for ax, split in zip(axes, SPLITS, strict=True):
        for off, key in ((-0.2, "precision"), (0.2, "recall")):
            values = [results[n, split][key] for n in names]
            ax.bar([i + off for i in x], values, 0.4, label=key)
        ax.axhline(0.95, color="grey", lw=0.8, ls="--")
        ax.axhline(0.90, color="grey", lw=0.6, ls=":")
        ax.set_xticks(list(x), [n.replace(" + ", "\n+ ") for n in names], fontsize=5)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"Crisis detection, {SPLIT_NAMES[split]}", fontsize=9)
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def write_blind(markdown: str, mark: str = BLIND_MARK) -> None:
    """Put a blind table under its mark in docs/safety.md (replacing an earlier one under the
    same mark, leaving the other blind sets' tables alone); written atomically."""
    text = DOC.read_text()
    end = mark.replace("<!-- ", "<!-- /", 1)
    if mark not in text:
        raise SystemExit(f"{DOC}: no {mark} mark to write the blind results under")
    before, _, after = text.partition(mark)
    if end in after:
        after = after.split(end, 1)[1]
    tmp = DOC.with_name(DOC.name + ".tmp")
    tmp.write_text(f"{before}{mark}\n{markdown.strip()}\n{end}{after}")
    tmp.replace(DOC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--esconv-dir",
        type=Path,
        default=ESCONV,
        help="ESConv folder whose valid and test seeker turns are checked for false alarms "
        "(skipped when missing)",
    )
    parser.add_argument(
        "--blind",
        action="store_true",
        help="evaluate a blind set only (once, at the end): --blind-file, by default "
        "crisis_blind.jsonl (blind set v1)",
    )
    parser.add_argument(
        "--blind-file",
        type=Path,
        help="the blind set --blind scores (default: benchmarks/data/crisis_blind.jsonl); its "
        "table goes under its own mark in docs/safety.md (crisis_blind3.jsonl: "
        "<!-- blind3-results -->)",
    )
    args = parser.parse_args()
    if args.blind_file is not None and not args.blind:
        parser.error("--blind-file needs --blind")
    if args.blind:
        path = BLIND if args.blind_file is None else args.blind_file
        mark = blind_mark(path)
        if not args.no_write and mark not in DOC.read_text():
            raise SystemExit(f"{DOC}: no {mark} mark to write the results of {path.name} under")
        markdown = blind_report(path)
        print(markdown)
        if not args.no_write:
            write_blind(markdown, mark)
            print(f"wrote the results of {path.name} into {DOC} under {mark}")
        return
    rows = load()
    markdown, results = report(rows, args.repeats, args.esconv_dir)
    print(markdown)
    if not args.no_write:
        update_section("safety-eval", markdown, doc=DOC)
        plot(results, DOC.with_name("safety_eval.png"))
        print(f"wrote {DOC} and {DOC.with_name('safety_eval.png')}")


if __name__ == "__main__":
    main()
