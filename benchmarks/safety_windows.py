"""What the fine-tuned layer's windows cost (round 19): a message too long for the layer is read
cut, as before, and once per sentence (``FinetunedClassifier.windows``). Side by side in one
run, on the same messages: the layer reading every message once, cut at ``max_length`` (the
baseline, round 18), and with the windows. Reported: readings per message (machine-independent),
CPU ms per message (median and range of ``--repeats`` cold runs, one torch thread) and the ratio.

Messages: the development sets the settings are chosen on (blind sets v5, v6, v9 and v10) and
``crisis_fresh.jsonl``, all of them and the long ones alone (those the layer cannot read whole),
each with its context; the seeker turns of the 40 ESConv ``valid`` dialogues whose flags the
settings rule counts (``safety_finetune.esconv_turns``), each after the seeker's earlier ones.

    python benchmarks/safety_windows.py [--repeats 3] [--adapter FILE]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

from _report import machine
from safety_eval import ESCONV, refuse_unread
from safety_finetune import esconv_turns

from sweetiechat.quality.finetune_train import read_rows
from sweetiechat.quality.finetuned import (
    _MAX_CHARS,
    FinetunedClassifier,
    format_context,
    load_finetuned,
)

DATA = Path(__file__).resolve().parent / "data"
SETS = (
    "crisis_blind5.jsonl",
    "crisis_blind6.jsonl",
    "crisis_blind9.jsonl",
    "crisis_blind10.jsonl",
    "crisis_fresh.jsonl",
)


def cut_only(self: FinetunedClassifier, text: str, context: str = "") -> list[str]:
    """Round 18's reading: the message once, cut by the tokenizer."""
    return [text.strip()[:_MAX_CHARS]]


def cpu_ms(
    path: str | None, texts: Sequence[str], contexts: Sequence[Sequence[str]], windows: bool
) -> tuple[float, int]:
    """CPU ms per message of a cold classifier (its cache empty) and its readings in all."""
    clf = load_finetuned(path)
    clf.threads = 1
    clf._load()
    if not windows:
        clf.windows = cut_only.__get__(clf)  # type: ignore[method-assign]
    start = time.process_time()
    clf.probabilities(texts, contexts)
    spent = time.process_time() - start
    ctx = [format_context(c, clf.context_turns) for c in contexts]
    readings = sum(len(clf.windows(t, c)) for t, c in zip(texts, ctx, strict=True))
    return 1000 * spent / len(texts), readings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--adapter", default=None, help="fine-tuned file (default: shipped)")
    args = parser.parse_args()
    refuse_unread(SETS)
    rows = [r for name in SETS for r in read_rows(DATA / name)]
    texts, contexts = [r.text for r in rows], [r.context for r in rows]
    whole = load_finetuned(args.adapter).reads_whole(texts, contexts)
    groups = {
        f"development sets, all ({len(rows)})": (texts, contexts),
        f"development sets, long ({whole.count(False)})": (
            [t for t, w in zip(texts, whole, strict=True) if not w],
            [c for c, w in zip(contexts, whole, strict=True) if not w],
        ),
    }
    if (ESCONV / "valid.json").is_file():  # the 40 dialogues whose flags the settings rule counts
        dialogues = esconv_turns("valid", 40, seed=0)
        turns = [d[i] for d in dialogues for i in range(len(d))]
        earlier = [d[:i] for d in dialogues for i in range(len(d))]
        groups[f"ESConv valid seeker turns ({len(turns)})"] = (turns, earlier)
    print(f"{machine()}; {args.repeats} cold runs each, one torch thread")
    print("| messages | readings per message | CPU ms, cut only | CPU ms, windows | ratio |")
    print("|---|---|---|---|---|")
    for name, (t, c) in groups.items():
        runs: dict[bool, list[float]] = {False: [], True: []}
        readings = 0
        for _ in range(args.repeats):
            for windows in (False, True):  # side by side, alternating
                ms, n = cpu_ms(args.adapter, t, c, windows)
                runs[windows].append(ms)
                readings = n if windows else readings
        base, new = statistics.median(runs[False]), statistics.median(runs[True])
        print(
            f"| {name} | {readings / len(t):.2f} | {base:.1f} ({min(runs[False]):.1f}-"
            f"{max(runs[False]):.1f}) | {new:.1f} ({min(runs[True]):.1f}-{max(runs[True]):.1f})"
            f" | {new / base:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
