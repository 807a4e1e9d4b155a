"""Adherence and role consistency before and after enforcement, against the test server.

The test server's supporter answers with another strategy's line with probability
``--p-wrong`` and its seeker consoles the supporter with probability ``--p-slide`` (each
request draws anew, so a regenerated turn may come out right). The same run is generated
without and with ``--enforce-strategy --enforce-role``; the table gives adherence (by the
recognizer), the share of seeker turns the role detector flags, and model calls per dialogue.

    python benchmarks/quality_enforcement.py --recognizer /work/runs/B/rec_frozen -n 20

Writes ``--out`` (JSON) too. See docs/quality.md, "Enforcement during generation".
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from sweetiechat.config import GenerationConfig
from sweetiechat.generate import generate_dialogues
from sweetiechat.io import read_dialogues
from sweetiechat.quality.adherence import adherence
from sweetiechat.quality.recognizer import StrategyRecognizer
from sweetiechat.quality.roles import RoleDetector
from sweetiechat.taxonomy import Strategy
from sweetiechat.testing import OpenAITestServer, RolePlayScript
from sweetiechat.testing.script import _SUPPORT

SLIDES = [
    "I'm so sorry you're going through this. Have you tried talking to someone about it?",
    "It's completely normal to feel this way. Give yourself time, you are not alone.",
    "How are you feeling about all of this? What has been the hardest part for you?",
    "You should take some time for yourself. You deserve a break.",
]


class NoisyScript(RolePlayScript):
    """The default script with wrong-strategy supporters and sliding seekers."""

    close_rate = 0.0

    def __init__(self, p_wrong: float, p_slide: float) -> None:
        self.p_wrong, self.p_slide = p_wrong, p_slide

    def __call__(self, request) -> str:  # type: ignore[no-untyped-def]
        text = super().__call__(request)
        if request.role == "supporter" and request.rng.random() < self.p_wrong:
            return _SUPPORT[request.rng.choice(list(Strategy))]
        if request.role == "seeker" and request.rng.random() < self.p_slide:
            return request.rng.choice(SLIDES)
        return text


def run(args: argparse.Namespace, enforce: bool, folder: Path) -> dict[str, object]:
    out = folder / ("enforced.jsonl" if enforce else "plain.jsonl")
    with OpenAITestServer(NoisyScript(args.p_wrong, args.p_slide)) as server:
        config = {
            "defaults": {"backend": "openai", "base_url": server.base_url, "model": "m",
                         "api_key_env": "", "attempts": 3, "wait_max": 0.05},
            "counselor": {"kind": "prompted"},
            "max_seeker_turns": args.turns, "min_seeker_turns": args.turns,
            "seed": args.seed, "concurrency": 4,
        }  # fmt: skip
        if enforce:
            config["enforcement"] = {
                "strategy": True, "role": True, "tries": args.tries,
                "recognizer": args.recognizer,
            }  # fmt: skip
        start = time.perf_counter()
        state = generate_dialogues(args.n, out, GenerationConfig.model_validate(config))
        seconds = time.perf_counter() - start
    dialogues = list(read_dialogues(out))
    report = adherence(dialogues, StrategyRecognizer.load(args.recognizer))
    items = [(d, i) for d in dialogues for i, t in enumerate(d.turns) if t.role == "seeker"]
    flags = RoleDetector.load(args.role_detector).flags(items)
    calls = state.ledger.total.calls
    events = [e for d in dialogues for e in getattr(d.meta, "enforcement", [])]
    return {
        "dialogues": len(dialogues),
        "adherence": report.overall,
        "adherence_per_strategy": report.per_strategy,
        "seeker_turns": len(items),
        "flagged_seeker_share": sum(flags) / len(items) if items else None,
        "model_calls": calls,
        "calls_per_dialogue": calls / max(len(dialogues), 1),
        "regenerations": sum(e["attempts"] - 1 for e in events),
        "rejected_after_all_tries": sum(not e["accepted"] for e in events),
        "seconds": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recognizer", required=True, help="strategy recognizer folder")
    parser.add_argument("--role-detector", default=None, help="default: the shipped one")
    parser.add_argument("-n", type=int, default=20, help="dialogues per run")
    parser.add_argument("--turns", type=int, default=4, help="seeker turns per dialogue")
    parser.add_argument("--tries", type=int, default=3, help="attempts per checked turn")
    parser.add_argument("--p-wrong", type=float, default=0.5)
    parser.add_argument("--p-slide", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {"plain": run(args, False, Path(tmp)), "enforced": run(args, True, Path(tmp))}
    plain, enforced = results["plain"], results["enforced"]
    print(f"{'':28}{'plain':>10}{'enforced':>10}")
    for key in ("adherence", "flagged_seeker_share", "calls_per_dialogue", "regenerations"):
        a, b = plain[key], enforced[key]
        print(f"{key:28}{a:>10.3f}{b:>10.3f}")  # type: ignore[str-format]
    ratio = enforced["model_calls"] / max(plain["model_calls"], 1)  # type: ignore[operator]
    print(f"model calls, enforced / plain: {ratio:.2f}x")
    if args.out:
        args.out.write_text(json.dumps({**results, "settings": vars(args)}, default=str, indent=1))


if __name__ == "__main__":
    main()
