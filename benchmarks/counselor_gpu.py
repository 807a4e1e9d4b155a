"""Train and evaluate the classifier counselor on a GPU machine that lacks our dependencies.

The GPU machine has torch, transformers and numpy, but not pydantic, langchain, datasets or
trl, so this script imports nothing from ``sweetiechat`` except ``sweetiechat/eval/bias.py``
(numpy only, loaded by path). Its input text is the classifier counselor's
(``sweetiechat.agents.classifier.classifier_text``); ``tests/test_eval_counselor.py`` checks
that the two agree on ESConv. The recipe is the CPU benchmark's (MiniLM + a linear head,
AdamW, linear warm-up and decay, class-weighted cross-entropy), trained for full epochs,
keeping the epoch with the best validation macro-F1, then scored on test.

Each variant of ``--variants`` is trained in turn (within ``--time-budget`` seconds); the
results, with training throughput (examples/s, tokens/s), go to ``OUT/results_gpu.json`` and
each variant's test predictions to ``OUT/predictions_<variant>.jsonl``.

Run from the repository root (see benchmarks/counselor_gpu.sh)::

    python3 benchmarks/counselor_gpu.py --data gpu_carry/esconv --base gpu_carry/minilm --out $OUT
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

STRATEGIES = [
    "Question",
    "Restatement or Paraphrasing",
    "Reflection of feelings",
    "Self-disclosure",
    "Affirmation and Reassurance",
    "Providing Suggestions",
    "Information",
    "Others",
]
#: ESConv's problem-type spellings -> sweetiechat's names (sweetiechat.taxonomy).
PROBLEM_TYPES = {
    "ongoing depression": "Ongoing Depression",
    "job crisis": "Job Crisis",
    "breakup with partner": "Breakups or Divorce",
    "problems with friends": "Problems with Friends",
    "academic pressure": "Academic Pressure",
    "sleep problems": "Sleep Problems",
    "procrastination": "Procrastination",
    "appearance anxiety": "Appearance Anxiety",
    "alcohol abuse": "Alcohol Abuse",
    "conflict with parents": "Issues with Parents",
    "issues with children": "Issues with Children",
    "issues with parents": "Issues with Parents",
    "school bullying": "School Bullying",
}
#: Named input variants: ClassifierInput fields (window, problem_type, emotion, strategies,
#: newest_first, max_length) and the loss's class weighting.
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "window12": {"window": 12},
    "all-history": {"window": 0, "max_length": 384},
    "no-strategies": {"strategies": False},
    "no-emotion-problem": {"emotion": False, "problem_type": False},
    "balanced": {"class_weights": "balanced"},
    "unweighted": {"class_weights": "none"},
}
BASE_VARIANT: dict[str, Any] = {
    "window": 6,
    "problem_type": True,
    "emotion": True,
    "strategies": True,
    "newest_first": True,
    "max_length": 256,
    "class_weights": "sqrt",
}


# --- data: ESConv JSON lines -> (dialogue_id, turn_index, header, history, gold) ----------


def read_esconv(path: Path) -> list[dict[str, Any]]:
    """ESConv split records (one JSON object per line)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def classifier_text(
    record: dict[str, Any], upto: int, fmt: dict[str, Any]
) -> tuple[str | None, str]:
    """The input for the supporter turn ``upto`` of ``record`` (the same text as
    ``sweetiechat.agents.classifier.classifier_text`` on the dialogue cut before it)."""
    header = []
    if fmt["problem_type"]:
        raw = str(record.get("problem_type", ""))
        header.append(f"problem: {PROBLEM_TYPES.get(raw.lower(), raw)}")
    if fmt["emotion"] and record.get("emotion_type"):
        header.append(f"emotion: {record['emotion_type']}")
    turns = record["dialog"][:upto]
    if fmt["window"]:
        turns = turns[-fmt["window"] :]
    lines = []
    for t in turns:
        text = " ".join(str(t.get("text", "")).split())
        if t["speaker"] in ("usr", "seeker"):
            lines.append(f"Seeker: {text}")
        elif fmt["strategies"] and t.get("strategy"):
            lines.append(f"Supporter [{t['strategy']}]: {text}")
        else:
            lines.append(f"Supporter: {text}")
    if fmt["newest_first"]:
        lines.reverse()
    return (" | ".join(header) or None), (" || ".join(lines) or "(the conversation starts)")


def examples(path: Path, fmt: dict[str, Any], limit: int | None) -> list[dict[str, Any]]:
    """One example per supporter turn with a strategy; dialogue ids as sweetiechat's reader
    gives them (``esconv-<file stem>-<line - 1:04d>``)."""
    out = []
    for number, record in enumerate(read_esconv(path)[:limit]):
        for index, turn in enumerate(record["dialog"]):
            if turn["speaker"] in ("sys", "supporter") and turn.get("strategy"):
                header, history = classifier_text(record, index, fmt)
                out.append(
                    {
                        "dialogue_id": f"esconv-{path.stem}-{number:04d}",
                        "turn_index": index,
                        "header": header,
                        "history": history,
                        "label": STRATEGIES.index(turn["strategy"]),
                    }
                )
    return out


# --- scores --------------------------------------------------------------------------------


def load_bias() -> Any:
    """``sweetiechat/eval/bias.py`` without importing the package (numpy only)."""
    spec = importlib.util.spec_from_file_location("_bias", ROOT / "sweetiechat/eval/bias.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def scores(gold: list[int], pred: list[int]) -> dict[str, Any]:
    """Accuracy, macro/weighted F1 (over the classes that occur) and preference bias B."""
    import numpy as np

    bias = load_bias()
    c = bias.confusion_counts(gold, pred, len(STRATEGIES))
    tp = np.diag(c).astype(float)
    support, predicted = c.sum(axis=1), c.sum(axis=0)
    f1 = np.where(support + predicted > 0, 2 * tp / np.maximum(support + predicted, 1), 0.0)
    present = (support + predicted) > 0
    b = float(np.std(bias.bradley_terry_strengths(c.T)))
    return {
        "n": len(gold),
        "accuracy": float(tp.sum() / max(len(gold), 1)),
        "macro_f1": float(f1[present].mean()),
        "weighted_f1": float((f1 * support).sum() / max(support.sum(), 1)),
        "preference_bias": None if math.isnan(b) else b,
        "f1_per_strategy": {s: float(f1[i]) for i, s in enumerate(STRATEGIES)},
    }


# --- training --------------------------------------------------------------------------------


def encode(tokenizer: Any, rows: list[dict[str, Any]], fmt: dict[str, Any]) -> list[list[int]]:
    tokenizer.truncation_side = "right" if fmt["newest_first"] else "left"
    if any(r["header"] is not None for r in rows):
        enc = tokenizer(
            [r["header"] or "" for r in rows],
            [r["history"] for r in rows],
            truncation="only_second",
            max_length=fmt["max_length"],
        )
    else:
        enc = tokenizer([r["history"] for r in rows], truncation=True, max_length=fmt["max_length"])
    return [
        dict(zip(enc.keys(), values, strict=True)) for values in zip(*enc.values(), strict=True)
    ]


def batches(tokenizer: Any, items: list[dict[str, Any]], size: int, device: str) -> Any:
    for start in range(0, len(items), size):
        chunk = items[start : start + size]
        yield tokenizer.pad(chunk, return_tensors="pt").to(device)


def predict(model: Any, tokenizer: Any, items: list[dict[str, Any]], device: str) -> list[int]:
    import torch

    model.eval()
    out: list[int] = []
    with torch.inference_mode(), autocast(device):
        for batch in batches(tokenizer, items, 256, device):
            out.extend(model(**batch).logits.argmax(-1).tolist())
    return out


def autocast(device: str) -> Any:
    import torch

    if device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def class_weights(labels: list[int], mode: str) -> list[float] | None:
    if mode == "none":
        return None
    n, k = len(labels), len(STRATEGIES)
    counts = [labels.count(i) for i in range(k)]
    w = [n / (k * c) if c else 1.0 for c in counts]
    return [math.sqrt(x) for x in w] if mode == "sqrt" else w


def train_variant(
    name: str, fmt: dict[str, Any], args: argparse.Namespace, device: str
) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    random.seed(args.seed)
    torch.manual_seed(args.seed)
    tokenizer = AutoTokenizer.from_pretrained(args.base)
    model = AutoModelForSequenceClassification.from_pretrained(
        args.base,
        num_labels=len(STRATEGIES),
        id2label=dict(enumerate(STRATEGIES)),
        label2id={s: i for i, s in enumerate(STRATEGIES)},
        dtype=torch.float32,
    ).to(device)
    split = {
        s: examples(args.data / f"{s}.json", fmt, args.limit) for s in ("train", "valid", "test")
    }
    enc = {s: encode(tokenizer, rows, fmt) for s, rows in split.items()}
    labels = [r["label"] for r in split["train"]]
    for item, label in zip(enc["train"], labels, strict=True):
        item["labels"] = label
    weights = class_weights(labels, fmt["class_weights"])
    loss_w = torch.tensor(weights, device=device) if weights else None
    steps_per_epoch = math.ceil(len(enc["train"]) / args.batch_size)
    total = steps_per_epoch * args.epochs if args.max_steps < 0 else args.max_steps
    warmup = max(1, int(args.warmup * total))
    optim = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup)))
    )
    order = list(range(len(enc["train"])))
    best: dict[str, Any] = {"valid_macro_f1": -1.0}
    step, seen, tokens, train_seconds, history = 0, 0, 0, 0.0, []
    rng = random.Random(args.seed)
    while step < total:
        model.train()
        rng.shuffle(order)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        began = time.perf_counter()
        for start in range(0, len(order), args.batch_size):
            if step >= total:
                break
            chunk = [enc["train"][i] for i in order[start : start + args.batch_size]]
            batch = tokenizer.pad(chunk, return_tensors="pt").to(device)
            gold = batch.pop("labels")
            with autocast(device):
                logits = model(**batch).logits
            loss = torch.nn.functional.cross_entropy(logits.float(), gold, weight=loss_w)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optim.step()
            sched.step()
            optim.zero_grad(set_to_none=True)
            step += 1
            seen += len(chunk)
            tokens += int(batch["attention_mask"].sum())
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        train_seconds += time.perf_counter() - began
        valid = scores(
            [r["label"] for r in split["valid"]], predict(model, tokenizer, enc["valid"], device)
        )
        history.append({"step": step, "valid_macro_f1": valid["macro_f1"], "loss": float(loss)})
        f1 = 100 * valid["macro_f1"]
        print(f"[{name}] step {step}/{total} loss {float(loss):.3f} valid macro-F1 {f1:.2f}")
        if valid["macro_f1"] > best["valid_macro_f1"]:
            best = {
                "valid_macro_f1": valid["macro_f1"],
                "step": step,
                "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
            }
    model.load_state_dict(best.pop("state"))
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    began = time.perf_counter()
    pred = predict(model, tokenizer, enc["test"], device)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    test_seconds = time.perf_counter() - began
    gold = [r["label"] for r in split["test"]]
    if args.out:
        with (args.out / f"predictions_{name}.jsonl").open("w", encoding="utf-8") as fh:
            for r, p in zip(split["test"], pred, strict=True):
                record = {
                    "dialogue_id": r["dialogue_id"],
                    "turn_index": r["turn_index"],
                    "gold": STRATEGIES[r["label"]],
                    "pred": STRATEGIES[p],
                    "probs": None,
                }
                fh.write(json.dumps(record) + "\n")
    return {
        "variant": name,
        "input": fmt,
        "test": scores(gold, pred),
        "best": best,
        "history": history,
        "train": {
            "examples": len(enc["train"]),
            "steps": step,
            "epochs": round(seen / len(enc["train"]), 2),
            "seconds": round(train_seconds, 2),
            "examples_per_second": round(seen / train_seconds, 1),
            "tokens_per_second": round(tokens / train_seconds, 1),
            "tokens_per_step": round(tokens / max(step, 1), 1),
        },
        "test_decisions_per_second": round(len(gold) / test_seconds, 1),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=ROOT / "gpu_carry" / "esconv")
    p.add_argument("--base", type=Path, default=ROOT / "gpu_carry" / "minilm")
    p.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "runs/gpu-counselor")))
    p.add_argument("--variants", default="default,window12,no-strategies,balanced,unweighted")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--max-steps", type=int, default=-1, help="overrides --epochs when > 0")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--warmup", type=float, default=0.06)
    p.add_argument("--limit", type=int, help="only the first N dialogues of each split")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--device", default=None, help="default: cuda when available")
    p.add_argument("--time-budget", type=float, default=330, help="seconds; then stop")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import torch

    args = parse_args(argv)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    args.out.mkdir(parents=True, exist_ok=True)
    info = {
        "device": torch.cuda.get_device_name(0) if device.startswith("cuda") else "cpu",
        "torch": torch.__version__,
        "settings": {k: str(v) for k, v in vars(args).items()},
        "runs": [],
    }
    started = time.perf_counter()
    for name in args.variants.split(","):
        if time.perf_counter() - started > args.time_budget:
            print(f"time budget spent: {name} and later variants skipped", flush=True)
            break
        fmt = {**BASE_VARIANT, **VARIANTS[name]}
        run = train_variant(name, fmt, args, device)
        info["runs"].append(run)
        t, tr, best = run["test"], run["train"], run["best"]
        b = "unbounded" if t["preference_bias"] is None else f"{t['preference_bias']:.3f}"
        print(
            f"RESULT {name}: test n={t['n']} acc {100 * t['accuracy']:.2f} macro-F1 "
            f"{100 * t['macro_f1']:.2f} weighted-F1 {100 * t['weighted_f1']:.2f} B {b}"
            f" | valid macro-F1 {100 * best['valid_macro_f1']:.2f} (step {best['step']})"
            f" | train {tr['seconds']} s, {tr['examples_per_second']} ex/s,"
            f" {tr['tokens_per_second']} tok/s"
            f" | test {run['test_decisions_per_second']} decisions/s",
            flush=True,
        )
        (args.out / "results_gpu.json").write_text(json.dumps(info, indent=2) + "\n")
    if info["runs"]:
        chosen = max(info["runs"], key=lambda r: r["best"]["valid_macro_f1"])
        info["chosen_by_valid"] = chosen["variant"]
        (args.out / "results_gpu.json").write_text(json.dumps(info, indent=2) + "\n")
        print(f"CHOSEN (best valid macro-F1): {chosen['variant']} -> test {chosen['test']}")
    print(f"total {time.perf_counter() - started:.1f} s on {info['device']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
