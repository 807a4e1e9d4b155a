"""Train the risk detector's trained layer: a logistic-regression head on frozen MiniLM
embeddings, shipped as ``sweetiechat/data/crisis_head.json``.

Training material (never the evaluation sets):

- ``benchmarks/data/crisis_train.jsonl``: risk messages and hard negatives written for the head;
- the prototype sentences of ``sweetiechat/quality/prototypes.py``;
- ordinary ESConv seeker turns (``train`` split) as negatives, their sentences and whole
  messages, leaving out any a precise pattern flags (some seekers do speak of risk).

Training rows closer than cosine 0.9 to any message of the held-out half or the fresh held-out
set are dropped (and counted), so no near-copy of a test message is learned.

The regularisation, the weight of the ESConv negatives and the threshold are chosen on the
development half of ``crisis_eval.jsonl`` and ESConv's ``valid`` split: the highest
development recall with development precision >= 0.95 and at most ``--max-flag-rate`` of
valid seeker turns flagged by the full detector. The held-out sets are not read for that.

    python benchmarks/safety_head.py [--esconv-train N] [--valid-dialogues N] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from safety_eval import ESCONV

from sweetiechat.io import read_dialogues
from sweetiechat.quality.head import DEFAULT_HEAD, RiskHead
from sweetiechat.quality.patterns import match_patterns
from sweetiechat.quality.prototypes import PROTOTYPES
from sweetiechat.quality.risk import RiskAssessment, RiskDetector
from sweetiechat.quality.semantic import CATEGORIES, SemanticLayer, spell_out

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data"
OUT = ROOT / "sweetiechat" / "data" / DEFAULT_HEAD


def seeker_turns(path: Path, dialogues: int | None, seed: int) -> list[list[str]]:
    """Seeker messages per dialogue of an ESConv split (a seeded sample of dialogues)."""
    all_dialogues = [[t.text for t in d.turns if t.role == "seeker"] for d in read_dialogues(path)]
    if dialogues is not None and dialogues < len(all_dialogues):
        all_dialogues = random.Random(seed).sample(all_dialogues, dialogues)
    return all_dialogues


def training_rows(layer: SemanticLayer, esconv_units: int, seed: int) -> tuple[list, dict]:
    """(text, label, source) rows and counts."""
    rows = [
        (json.loads(line)["text"], json.loads(line)["category"], "written")
        for line in (DATA / "crisis_train.jsonl").read_text().splitlines()
        if line.strip()
    ]
    rows += [(t, c, "prototype") for c, texts in PROTOTYPES.items() for t in texts]
    units: list[str] = []
    for turns in seeker_turns(ESCONV / "train.json", None, seed):
        for text in turns:
            units.extend(layer.units(text))
    units = list(dict.fromkeys(units))
    random.Random(seed).shuffle(units)
    picked = []
    for u in units:  # a seeded sample, leaving out what a precise pattern flags
        if len(picked) >= esconv_units:
            break
        if match_patterns(u) is None:
            picked.append(u)
    rows += [(u, "none", "esconv") for u in picked]
    # no near-copies of test messages
    tests = [
        json.loads(line)
        for name in ("crisis_eval.jsonl", "crisis_fresh.jsonl")
        for line in (DATA / name).read_text().splitlines()
        if line.strip()
    ]
    test_texts = [spell_out(r["text"]) for r in tests if r.get("split") in ("heldout", "fresh")]
    tv = layer.embed(test_texts)
    rv = layer.embed([spell_out(t) for t, _, _ in rows])
    near = (rv @ tv.T).max(axis=1) >= 0.9
    kept = [r for r, n in zip(rows, near, strict=True) if not n]
    counts = {
        "written": sum(s == "written" for _, _, s in kept),
        "prototype": sum(s == "prototype" for _, _, s in kept),
        "esconv_train_negatives": sum(s == "esconv" for _, _, s in kept),
        "dropped_near_test": int(near.sum()),
        "per_category": {c: sum(lab == c for _, lab, _ in kept) for c in CATEGORIES},
    }
    return kept, counts


def fit(
    vecs: np.ndarray, labels: Sequence[str], sources: Sequence[str], c: float, esconv_weight: float
) -> RiskHead:
    """Multinomial logistic regression; ESConv negatives weigh ``esconv_weight`` times the
    written negatives in total."""
    from sklearn.linear_model import LogisticRegression

    y = np.array([CATEGORIES.index(lab) for lab in labels])
    src = np.array(sources)
    w = np.ones(len(y))
    written_none = ((y == 4) & (src != "esconv")).sum()
    n_es = (src == "esconv").sum()
    if n_es:
        w[src == "esconv"] = esconv_weight * written_none / n_es
    # balance the risk categories against each other
    for k in range(4):
        m = y == k
        if m.any():
            w[m] *= (y != 4).sum() / 4 / m.sum()
    model = LogisticRegression(C=c, max_iter=2000)
    model.fit(vecs, y, sample_weight=w)
    return RiskHead(model.coef_, model.intercept_, categories=CATEGORIES)


def _in_context(
    det: RiskDetector, texts: Sequence[str], contexts: Sequence[Sequence[str]]
) -> list[RiskAssessment]:
    """``det.assess_many`` with each distinct message assessed once (the grid reruns it)."""
    ctx = [list(c)[-det.context_turns :] for c in contexts]
    unique = list(dict.fromkeys([*texts, *(t for c in ctx for t in c)]))
    own = dict(zip(unique, det._offline(unique), strict=True))
    return [
        det._with_context(own[t], t, [own[x] for x in c]) for t, c in zip(texts, ctx, strict=True)
    ]


def evaluate(det: RiskDetector, rows: Sequence[dict], valid: Sequence[list[str]]) -> dict:
    """Development precision/recall and the ESConv valid flag rate of the full detector."""
    out = _in_context(det, [r["text"] for r in rows], [r["context"] for r in rows])
    gold = [r["category"] != "none" for r in rows]
    tp = sum(a.risk and g for a, g in zip(out, gold, strict=True))
    fp = sum(a.risk and not g for a, g in zip(out, gold, strict=True))
    texts = [t for turns in valid for t in turns]
    ctx = [turns[:i] for turns in valid for i in range(len(turns))]
    flags = _in_context(det, texts, ctx)
    return {
        "dev_precision": tp / (tp + fp) if tp + fp else 1.0,
        "dev_recall": tp / sum(gold),
        "valid_flag_rate": sum(a.risk for a in flags) / len(flags),
        "valid_turns": len(flags),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--esconv-train", type=int, default=2500, help="ESConv negative units")
    parser.add_argument("--valid-dialogues", type=int, default=30)
    parser.add_argument("--max-flag-rate", type=float, default=0.03)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--cache", type=Path, help="an .npz of sentence embeddings to reuse")
    args = parser.parse_args()
    t0 = time.time()
    layer = SemanticLayer()
    if args.cache and args.cache.is_file():
        saved = np.load(args.cache, allow_pickle=False)
        layer._load()
        for text, vec in zip(saved["texts"].tolist(), saved["vecs"], strict=True):
            layer._cache[text] = vec
    rows, counts = training_rows(layer, args.esconv_train, args.seed)
    print(f"training rows: {counts} ({time.time() - t0:.0f} s)", flush=True)
    vecs = layer.embed([spell_out(t) for t, _, _ in rows])
    labels = [lab for _, lab, _ in rows]
    sources = [s for _, _, s in rows]
    dev = [
        r
        for line in (DATA / "crisis_eval.jsonl").read_text().splitlines()
        if line.strip() and (r := json.loads(line))["split"] == "dev"
    ]
    valid = seeker_turns(ESCONV / "valid.json", args.valid_dialogues, args.seed)
    base = evaluate(RiskDetector(semantic=layer, head=False, finetuned=False), dev, valid)
    if args.cache:
        texts = list(layer._cache)
        np.savez(args.cache, texts=np.array(texts), vecs=np.stack([layer._cache[t] for t in texts]))
    print(f"without the head: {base}", flush=True)
    best: tuple[tuple, RiskHead, dict] | None = None
    for c in (1.0, 4.0, 16.0, 64.0):
        for esw in (0.5, 1.0, 2.0, 4.0):
            head = fit(vecs, labels, sources, c, esw)
            for gates in (False, True):
                for th in (0.5, 0.6, 0.7, 0.8, 0.9):
                    head.threshold, head.gates = th, gates
                    m = evaluate(
                        RiskDetector(semantic=layer, head=head, finetuned=False), dev, valid
                    )
                    ok = m["dev_precision"] >= 0.95 and m["valid_flag_rate"] <= args.max_flag_rate
                    print(
                        f"C={c} esconv_weight={esw} gates={gates} threshold={th}: {m}"
                        f"{' ok' if ok else ''}",
                        flush=True,
                    )
                    key = (ok, round(m["dev_recall"], 4), -m["valid_flag_rate"], -c)
                    if best is None or key > best[0]:
                        info = {"C": c, "esconv_weight": esw, **m}
                        saved = RiskHead(
                            head.weights, head.bias, threshold=th, gates=gates, info=info
                        )
                        best = (key, saved, m)
    assert best is not None
    head = best[1]
    head.info = {
        **head.info,
        "embedding": "all-MiniLM-L6-v2, mean pooled, unit length, chat spellings written out",
        "trained_on": counts,
        "chosen_on": "development half of crisis_eval.jsonl and ESConv valid "
        f"({args.valid_dialogues} dialogues, seed {args.seed})",
        "script": "benchmarks/safety_head.py",
    }
    print(f"chosen: threshold {head.threshold}, gates {head.gates}, {head.info}")
    chosen = RiskDetector(semantic=layer, head=head, finetuned=False)
    out = _in_context(chosen, [r["text"] for r in dev], [r["context"] for r in dev])
    for r, a in zip(dev, out, strict=True):
        if a.risk != (r["category"] != "none"):
            print(f"dev error: {r['category']} -> {a.category} ({a.layer}): {r['text']}")
    if not args.no_write:
        head.save(OUT)
        print(f"wrote {OUT}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
