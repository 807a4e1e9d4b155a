"""Compare fine-tuned adapters of the risk detector (say, the shipped one and a retrained one)
with the same code, on every set the project may score them on: the development half and the
old held-out half of ``crisis_eval.jsonl``, ``crisis_fresh.jsonl``, the everyday check
sentences, ESConv seeker turns (``valid``, used for tuning, and ``test``), the burned blind
sets v1, v2, v3, v4, v7, v8, v11, v12 and v13 (training data now: reported as training-set figures,
never as held-out ones) and blind sets v5, v6, v9 and v10 (development data for the settings
since rounds 11, 12, 15 and 16, never trained on). Blind set v14 (any ``crisis_blind14*`` file)
is never read here: ``safety_eval.refuse_unread`` refuses it.

Each detector is ``RiskDetector(finetuned=ADAPTER)`` (``none``: without the fine-tuned layer),
every message read in its context. One detector per process keeps runs independent, so two
adapters can be scored side by side on two cores:

    python benchmarks/safety_compare.py --adapter sweetiechat/data/crisis_finetuned.safetensors \
        --name shipped --json /tmp/shipped.json
    python benchmarks/safety_compare.py --adapter /tmp/new.safetensors --name new \
        --json /tmp/new.json
    python benchmarks/safety_compare.py --table /tmp/shipped.json /tmp/new.json
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from safety_eval import (
    CATEGORIES,
    ESCONV,
    esconv_flags,
    load,
    load_blind,
    refuse_unread,
    scores,
)

from sweetiechat.quality.finetune_train import read_rows

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data"
#: The sets, in table order: name -> (file, split or None for every row, held-out status).
SETS: dict[str, tuple[str, str | None, str]] = {
    "crisis_eval dev half": ("crisis_eval.jsonl", "dev", "development"),
    "crisis_eval old held-out half": ("crisis_eval.jsonl", "heldout", "held-out, looked at"),
    "crisis_fresh": ("crisis_fresh.jsonl", "fresh", "development"),
    "blind v1": ("crisis_blind.jsonl", None, "training data now"),
    "blind v2": ("crisis_blind2.jsonl", None, "training data now"),
    "blind v3": ("crisis_blind3.jsonl", None, "training data now"),
    "blind v4": ("crisis_blind4.jsonl", None, "training data now"),
    "blind v5": ("crisis_blind5.jsonl", None, "development (settings)"),
    "blind v6": ("crisis_blind6.jsonl", None, "development (settings)"),
    "blind v7": ("crisis_blind7.jsonl", None, "training data now"),
    "blind v8": ("crisis_blind8.jsonl", None, "training data now"),
    "blind v9": ("crisis_blind9.jsonl", None, "development (settings)"),
    "blind v10": ("crisis_blind10.jsonl", None, "development (settings)"),
    "blind v11": ("crisis_blind11.jsonl", None, "training data now"),
    "blind v12": ("crisis_blind12.jsonl", None, "training data now"),
    "blind v13": ("crisis_blind13.jsonl", None, "training data now"),
}
EVERYDAY = "crisis_everyday_check.jsonl"
refuse_unread([*(file for file, _, _ in SETS.values()), EVERYDAY])


def load_set(file: str, split: str | None) -> list[dict[str, Any]]:
    """The rows of one evaluation set (text, context, category): a split of
    ``safety_eval.load()``'s rows (``crisis_eval`` and ``crisis_fresh``), or a whole file."""
    refuse_unread([file])
    if split is None:
        return load_blind(DATA / file)
    return [r for r in load() if r["split"] == split]


def run(adapter: str, name: str, with_esconv: bool) -> dict[str, Any]:
    """Every set, scored with one detector."""
    from sweetiechat.quality.risk import RiskDetector

    det = RiskDetector(finetuned=False if adapter == "none" else adapter)
    result: dict[str, Any] = {"name": name, "adapter": adapter, "sets": {}}
    if det.finetuned is not None:
        clf = det.finetuned
        result["settings"] = {
            "threshold": clf.threshold,
            "veto": clf.veto,
            "support": clf.support,
            "logistic_head": det.head is not None,
        }
    for label, (file, split, _) in SETS.items():
        if not (DATA / file).is_file():
            continue
        rows = load_set(file, split)
        out = det.assess_many([r["text"] for r in rows], [r["context"] for r in rows])
        result["sets"][label] = scores(rows, [(a.risk, a.category) for a in out])
        print(f"{name}: {label}: {result['sets'][label]}", flush=True)
    texts = [r.text for r in read_rows(DATA / EVERYDAY)]
    out = det.assess_many(texts, [[] for _ in texts])
    result["everyday"] = [t for t, a in zip(texts, out, strict=True) if a.risk]
    print(f"{name}: everyday check flagged {len(result['everyday'])} of {len(texts)}", flush=True)
    result["everyday_total"] = len(texts)
    if with_esconv and ESCONV.is_dir():
        for split in ("valid", "test"):
            result[f"esconv_{split}"] = esconv_flags(ESCONV / f"{split}.json", det)
            print(f"{name}: ESConv {split}: {result[f'esconv_{split}']}", flush=True)
    return result


def table(results: Sequence[dict[str, Any]]) -> str:
    """A markdown table, one column per detector."""
    names = [r["name"] for r in results]
    lines = ["| set | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for label, (_, _, status) in SETS.items():
        cells = []
        for r in results:
            s = r["sets"].get(label)
            cells.append(
                "-"
                if s is None
                else f"R {s['recall']:.3f} at P {s['precision']:.3f} ({s['fp']} / {s['fn']})"
            )
        lines.append(f"| {label} ({status}) | " + " | ".join(cells) + " |")
        if label in ("crisis_eval old held-out half", "crisis_fresh", "blind v5", "blind v6"):
            cells = [
                " / ".join(
                    "-" if math.isnan(r["sets"][label][c]) else f"{r['sets'][label][c]:.2f}"
                    for c in CATEGORIES
                )
                if label in r["sets"]
                else "-"
                for r in results
            ]
            lines.append(
                f"| per category, {label} (SI / SH / HO / MR) | " + " | ".join(cells) + " |"
            )
    lines.append(
        "| everyday check, flagged | "
        + " | ".join(f"{len(r['everyday'])} of {r['everyday_total']}" for r in results)
        + " |"
    )
    for split in ("valid", "test"):
        key = f"esconv_{split}"
        if all(key in r for r in results):
            lines.append(
                f"| ESConv `{split}` turns flagged | "
                + " | ".join(
                    f"{r[key]['flagged']} of {r[key]['turns']:,} "
                    f"({r[key]['flagged'] / r[key]['turns']:.1%})"
                    for r in results
                )
                + " |"
            )
            lines.append(
                f"| CPU ms per ESConv `{split}` turn | "
                + " | ".join(f"{r[key]['cpu_ms']:.1f}" for r in results)
                + " |"
            )
    lines += ["", "Everyday check sentences flagged:"]
    for r in results:
        lines.append(f"- {r['name']}: " + ("; ".join(f'"{t}"' for t in r["everyday"]) or "none"))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", help="an adapter file, or 'none' (no fine-tuned layer)")
    parser.add_argument("--name", help="the detector's column name (default: the file name)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--no-esconv", action="store_true", help="skip the ESConv flag rates")
    parser.add_argument("--table", type=Path, nargs="+", help="print a table of saved results")
    args = parser.parse_args()
    if args.table:
        print(table([json.loads(p.read_text()) for p in args.table]))
        return
    if not args.adapter:
        parser.error("give --adapter FILE (or none), or --table RESULTS.json ...")
    result = run(args.adapter, args.name or Path(args.adapter).stem, not args.no_esconv)
    if args.json:
        tmp = args.json.with_name(args.json.name + ".tmp")
        tmp.write_text(json.dumps(result, indent=1))
        tmp.replace(args.json)
    print(table([result]))


if __name__ == "__main__":
    main()
