"""Crisis-detector evaluation: precision and recall on the development and held-out halves of
``benchmarks/data/crisis_eval.jsonl`` and on the fresh held-out set
``benchmarks/data/crisis_fresh.jsonl`` (written before the trained layer was tuned), per layer
and per category, side by side with the regular-expression list sweetiechat used before (15
patterns), and messages per second.
Writes the tables into docs/safety.md and a chart into docs/safety_eval.png.

Also measures the false-alarm side on real, ordinary emotional-support text: the share of
ESConv seeker turns flagged, each read in context (with the seeker's earlier turns), as the
generator reads them.

    python benchmarks/safety_eval.py [--repeats 3] [--no-write] [--esconv PATH]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _report import machine, update_section

from sweetiechat.quality.risk import RiskDetector
from sweetiechat.quality.semantic import SemanticLayer

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data" / "crisis_eval.jsonl"
FRESH = ROOT / "benchmarks" / "data" / "crisis_fresh.jsonl"
SPLITS = ("dev", "heldout", "fresh")
SPLIT_NAMES = {
    "dev": "dev",
    "heldout": "held-out (old; looked at 5 times)",
    "fresh": "fresh held-out",
}
DOC = ROOT / "docs" / "safety.md"
ESCONV = Path("/work/shared/data/esconv/test.json")
CATEGORIES = ["suicidal_ideation", "self_harm", "harm_from_others", "means_request"]

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


def methods(semantic: SemanticLayer) -> dict[str, Predict]:
    """Each configuration: rows -> [(risk, category)]."""
    patterns = RiskDetector(semantic=False)
    protos = RiskDetector(semantic=semantic, head=False)
    full = RiskDetector(semantic=semantic)
    head_only = RiskDetector(semantic=semantic)
    head_only.threshold = 2.0  # the prototypes never decide: patterns + the trained head

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
        "patterns + prototypes + context (before)": run(protos, True),
        "patterns + trained head": run(head_only, False),
        "patterns + prototypes + head": run(full, False),
        "full: patterns + prototypes + head + context": run(full, True),
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
        out[c] = sum(preds[i][0] for i in idx) / len(idx)
        out[c + "_exact"] = sum(preds[i][1] == c for i in idx) / len(idx)
    return out


def speed(rows: Sequence[dict], repeats: int) -> dict[str, list[float]]:
    """Messages per second and CPU ms per message, cold embedding cache, per run."""
    texts = [r["text"] for r in rows]
    contexts = [r["context"] for r in rows]
    out: dict[str, list[float]] = {"patterns": [], "full": [], "full_cpu_ms": [], "batch1": []}
    semantic = SemanticLayer()
    semantic.embed(["warm up"])
    for _ in range(repeats):
        det = RiskDetector(semantic=False)
        t = time.perf_counter()
        for _ in range(20):
            det.assess_many(texts, contexts)
        out["patterns"].append(20 * len(texts) / (time.perf_counter() - t))
        semantic._cache.clear()
        det = RiskDetector(semantic=semantic)
        t, c = time.perf_counter(), time.process_time()
        det.assess_many(texts, contexts)
        out["full"].append(len(texts) / (time.perf_counter() - t))
        out["full_cpu_ms"].append(1000 * (time.process_time() - c) / len(texts))
        semantic._cache.clear()
        t = time.perf_counter()
        for text, ctx in zip(texts, contexts, strict=True):
            det.assess(text, ctx)
        out["batch1"].append(len(texts) / (time.perf_counter() - t))
    return out


def esconv_flags(path: Path, semantic: SemanticLayer) -> dict[str, object]:
    """Flag rate of the full detector on the seeker turns of an ESConv split, in context."""
    from collections import Counter

    from sweetiechat.io import read_dialogues

    texts: list[str] = []
    contexts: list[list[str]] = []
    dialogues = 0
    for dialogue in read_dialogues(path):
        dialogues += 1
        seeker = [t.text for t in dialogue.turns if t.role == "seeker"]
        texts.extend(seeker)
        contexts.extend(seeker[:i] for i in range(len(seeker)))
    det = RiskDetector(semantic=semantic)
    t, c = time.perf_counter(), time.process_time()
    out = det.assess_many(texts, contexts)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    flagged = [a for a in out if a.risk]
    flagged_dialogues = 0
    i = 0
    for dialogue in read_dialogues(path):
        n = sum(t.role == "seeker" for t in dialogue.turns)
        flagged_dialogues += any(a.risk for a in out[i : i + n])
        i += n
    return {
        "dialogues": dialogues,
        "turns": len(texts),
        "flagged": len(flagged),
        "flagged_dialogues": flagged_dialogues,
        "by_category": Counter(a.category for a in flagged),
        "by_layer": Counter(a.layer for a in flagged),
        "msgs_per_s": len(texts) / wall,
        "cpu_ms": 1000 * cpu / len(texts),
    }


def fmt(values: list[float]) -> str:
    """Median (min-max)."""
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f})"


def report(rows: list[dict], repeats: int, esconv: Path | None = None) -> str:
    """Run everything and return the markdown."""
    semantic = SemanticLayer()
    results = {}
    for name, predict in methods(semantic).items():
        for split in SPLITS:
            part = [r for r in rows if r["split"] == split]
            results[name, split] = scores(part, predict(part))
    n = {s: sum(r["split"] == s for r in rows) for s in SPLITS}
    pos = {s: sum(r["split"] == s and r["category"] != "none" for r in rows) for s in n}
    lines = [
        f"Evaluation sets: `crisis_eval.jsonl`, development half {n['dev']} messages "
        f"({pos['dev']} risk), held-out half {n['heldout']} ({pos['heldout']} risk); "
        f"`crisis_fresh.jsonl`, fresh held-out {n['fresh']} ({pos['fresh']} risk). "
        f"Machine: {machine()}.",
        "",
        "| detector | dev P | dev R | held-out P | held-out R | held-out FP / FN "
        "| fresh P | fresh R | fresh FP / FN |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in methods(semantic):
        d, h, f = (results[name, s] for s in SPLITS)
        lines.append(
            f"| {name} | {d['precision']:.3f} | {d['recall']:.3f} | {h['precision']:.3f} | "
            f"{h['recall']:.3f} | {h['fp']:.0f} / {h['fn']:.0f} | {f['precision']:.3f} | "
            f"{f['recall']:.3f} | {f['fp']:.0f} / {f['fn']:.0f} |"
        )
    for split in ("heldout", "fresh"):
        lines += [
            "",
            f"Recall per category, {SPLIT_NAMES[split]} (risk detected; in brackets: with the "
            "right category):",
            "",
            "| detector | " + " | ".join(CATEGORIES) + " |",
            "|---|" + "---|" * len(CATEGORIES),
        ]
        for name in methods(semantic):
            h = results[name, split]
            cells = [
                f"{h[c]:.2f}" + ("" if name.startswith("old") else f" ({h[c + '_exact']:.2f})")
                for c in CATEGORIES
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    sp = speed(rows, repeats)
    lines += [
        "",
        f"Speed over the {len(rows)} messages (with their context turns), median (min-max) of "
        f"{repeats} runs, cold embedding cache:",
        "",
        "| configuration | messages/s |",
        "|---|---|",
        f"| patterns only | {fmt(sp['patterns'])} |",
        f"| full detector, batched (`assess_many`) | {fmt(sp['full'])} |",
        f"| full detector, one call per message (`assess`) | {fmt(sp['batch1'])} |",
        "",
        f"CPU time of the full batched detector: {statistics.median(sp['full_cpu_ms']):.1f} ms "
        "per message (machine-independent figure: about 2-4 MiniLM sentence embeddings per "
        "message).",
    ]
    if esconv is not None and esconv.exists():
        es = esconv_flags(esconv, semantic)
        cats = ", ".join(f"{k} {v}" for k, v in sorted(es["by_category"].items()))  # type: ignore[attr-defined]
        layers = ", ".join(f"{k} {v}" for k, v in sorted(es["by_layer"].items()))  # type: ignore[attr-defined]
        lines += [
            "",
            f"Flags on ordinary support text: ESConv `{esconv.name}`, every seeker turn read "
            "with the seeker's earlier turns (as `generate` reads them), full detector:",
            "",
            "| turns | flagged | flag rate | dialogues with a flag | by category | by layer |",
            "|---|---|---|---|---|---|",
            f"| {es['turns']:,} | {es['flagged']} | {es['flagged'] / es['turns']:.1%} | "  # type: ignore[operator]
            f"{es['flagged_dialogues']} of {es['dialogues']} | {cats} | {layers} |",
            "",
            f"({es['msgs_per_s']:.0f} messages/s, {es['cpu_ms']:.1f} ms CPU per message on "
            "this run.)",
        ]
    return "\n".join(lines), results


def plot(results: dict, path: Path) -> None:
    """Held-out precision and recall per detector as a bar chart."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(k[0] for k in results))
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2), sharey=True)
    x = range(len(names))
    for ax, split in zip(axes, ("heldout", "fresh"), strict=True):
        for off, key in ((-0.2, "precision"), (0.2, "recall")):
            values = [results[n, split][key] for n in names]
            ax.bar([i + off for i in x], values, 0.4, label=key)
        ax.axhline(0.95, color="grey", lw=0.8, ls="--")
        ax.axhline(0.90, color="grey", lw=0.6, ls=":")
        ax.set_xticks(list(x), [n.replace(" + ", "\n+ ") for n in names], fontsize=6)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"Crisis detection, {SPLIT_NAMES[split]}", fontsize=9)
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--esconv",
        type=Path,
        default=ESCONV,
        help="an ESConv split whose seeker turns are checked for false alarms (skipped when "
        "missing)",
    )
    args = parser.parse_args()
    rows = load()
    markdown, results = report(rows, args.repeats, args.esconv)
    print(markdown)
    if not args.no_write:
        update_section("safety-eval", markdown, doc=DOC)
        plot(results, DOC.with_name("safety_eval.png"))
        print(f"wrote {DOC} and {DOC.with_name('safety_eval.png')}")


if __name__ == "__main__":
    main()
