"""The risk detector's model-check layer, measured: the embedded SmolLM2 (135M) asked through
the ``choose`` capability by likelihood (``sweetiechat.backends.scoring.LikelihoodChooser``),
on the development and held-out halves of ``crisis_eval.jsonl`` and on the fresh held-out set
``crisis_fresh.jsonl``.

Three configurations, each on every split:

- the model alone: its label for every message (with the earlier turns), no offline layer;
- the offline detector (patterns + prototypes + trained head + context);
- the offline detector with the model check as shipped: the model is asked only about the
  messages the offline layers find uncertain (semantic risk in ``model_band``) and about
  non-English text; it can only add risk.

And the mechanics against the project's OpenAI-compatible test server (127.0.0.1, a scripted
answer): how many calls the check makes per message and the client time per call.

    python benchmarks/safety_model_check.py [--normalize sum|mean] [--splits dev,heldout,fresh]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Sequence
from pathlib import Path

from sweetiechat.quality.model_check import ask_model
from sweetiechat.quality.risk import RiskAssessment, RiskDetector
from sweetiechat.quality.semantic import SemanticLayer

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data"


def load(splits: Sequence[str]) -> dict[str, list[dict]]:
    """Rows per split: ``dev`` and ``heldout`` of crisis_eval.jsonl, ``fresh``."""
    rows = [json.loads(x) for x in (DATA / "crisis_eval.jsonl").read_text().splitlines() if x]
    rows += [json.loads(x) for x in (DATA / "crisis_fresh.jsonl").read_text().splitlines() if x]
    return {s: [r for r in rows if r["split"] == s] for s in splits}


def prf(rows: Sequence[dict], risk: Sequence[bool]) -> dict[str, float]:
    """Precision, recall, FP, FN and recall per category."""
    gold = [r["category"] != "none" for r in rows]
    tp = sum(p and g for p, g in zip(risk, gold, strict=True))
    fp = sum(p and not g for p, g in zip(risk, gold, strict=True))
    fn = sum(g and not p for p, g in zip(risk, gold, strict=True))
    out = {
        "precision": tp / (tp + fp) if tp + fp else 1.0,
        "recall": tp / (tp + fn) if tp + fn else 1.0,
        "fp": fp,
        "fn": fn,
    }
    for c in ("suicidal_ideation", "self_harm", "harm_from_others", "means_request"):
        idx = [i for i, r in enumerate(rows) if r["category"] == c]
        out[c] = sum(risk[i] for i in idx) / len(idx)
    return out


async def model_labels(
    chooser: object, rows: Sequence[dict], only: Sequence[bool] | None = None
) -> tuple[list[str], float]:
    """The model's label per message (``"-"`` where ``only`` says not to ask), and wall
    seconds per call."""
    labels = []
    t, calls = time.perf_counter(), 0
    for i, r in enumerate(rows):
        if only is not None and not only[i]:
            labels.append("-")
            continue
        verdict = await ask_model(chooser, r["text"], r["context"][-3:])
        labels.append("none" if verdict is None else verdict[0])
        calls += 1
    return labels, (time.perf_counter() - t) / max(1, calls)


def uncertain(det: RiskDetector, a: RiskAssessment) -> bool:
    """Whether the shipped detector would ask the model about this verdict."""
    return a.layer == "language" or (
        not a.risk
        and a.layer not in ("pattern", "empty", "context")
        and det.model_band[0] <= 1.0 - a.scores.get("none", 1.0) < det.model_band[1]
    )


def with_check(
    det: RiskDetector, offline: Sequence[RiskAssessment], labels: Sequence[str]
) -> tuple[list[bool], int]:
    """The shipped combination (model asked only when uncertain), from precomputed labels:
    (risk per message, how many messages the model was asked about)."""
    out, asked = [], 0
    for a, label in zip(offline, labels, strict=True):
        ask = uncertain(det, a)
        asked += ask
        out.append(a.risk or (ask and label not in ("none", "-")))
    return out, asked


def mechanics(n: int = 40) -> dict[str, float]:
    """The check through an HTTP chat model on the test server: calls and ms per message."""
    from langchain_openai import ChatOpenAI

    from sweetiechat.testing import OpenAITestServer

    with OpenAITestServer(lambda request: "means_request") as server:
        model = ChatOpenAI(base_url=server.base_url, api_key="x", model="test-model")
        det = RiskDetector(semantic=False, model=model, model_band=(0.0, 1.0))
        texts = [f"Which bridge near exit {i} is the highest?" for i in range(n)]
        t = time.perf_counter()
        out = [det.assess(x) for x in texts]
        wall = time.perf_counter() - t
        calls = sum(server.calls.values())
    return {
        "messages": n,
        "flagged_by_model": sum(a.layer == "model" for a in out),
        "calls": calls,
        "ms_per_message": 1000 * wall / n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--normalize", choices=["sum", "mean"], default="sum")
    parser.add_argument("--splits", default="dev,heldout,fresh")
    parser.add_argument(
        "--model-alone",
        default="dev,heldout,fresh",
        help="splits on which the model labels every message (elsewhere only those the "
        "shipped detector would ask about: much faster on a CPU)",
    )
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    from sweetiechat.backends.scoring import LikelihoodChooser

    chooser = LikelihoodChooser(normalize=args.normalize)
    det = RiskDetector(semantic=SemanticLayer(), finetuned=False)
    result: dict[str, dict] = {}
    for split, rows in load(args.splits.split(",")).items():
        offline = det.assess_many([r["text"] for r in rows], [r["context"] for r in rows])
        alone = split in args.model_alone.split(",")
        only = None if alone else [uncertain(det, a) for a in offline]
        labels, s_per_call = asyncio.run(model_labels(chooser, rows, only))
        combined, asked = with_check(det, offline, labels)
        result[split] = {
            "n": len(rows),
            "model alone": prf(rows, [x not in ("none", "-") for x in labels]) if alone else None,
            "offline detector": prf(rows, [a.risk for a in offline]),
            "offline + model check": prf(rows, combined),
            "asked": asked,
            "s_per_call": s_per_call,
            "label_counts": {x: labels.count(x) for x in sorted(set(labels))},
        }
        print(split, json.dumps(result[split]), flush=True)
    result["mechanics"] = mechanics()
    print("mechanics", json.dumps(result["mechanics"]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
