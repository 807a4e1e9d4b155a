"""Near-duplicate filter at scale: MinHash LSH (what ``sweetiechat clean`` uses) against the
exact all-pairs method, on synthetic dialogues built from ESConv utterances with planted
near-duplicates.

Each measurement runs in a fresh subprocess: the corpus is built first, then the method runs
over it; the child reports its CPU and wall time and the growth of its peak resident memory
(``ru_maxrss``) during the method, so the corpus itself is not counted. All-pairs compares
every dialogue with every kept one, so it is measured only at sizes it can do and
extrapolated quadratically to larger ones (marked "extrapolated").

The corpus: dialogue ``i`` is 8-20 utterances drawn (seeded by ``i``) from every ESConv
utterance; every 20th dialogue is instead a copy of an earlier one with 2% of its words
replaced (Jaccard similarity about 0.9), so recall of the planted duplicates can be read.

    nice -n 10 python benchmarks/dedup.py                    # 10k and 100k, twice
    nice -n 10 python benchmarks/dedup.py --sizes 2000 --all-pairs 500 --repeats 1

"compact" is the index ``clean`` uses; "datasketch storage" is the same LSH keeping its
buckets in datasketch's ``MinHashLSH`` (a set per bucket), measured for its memory.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ESCONV = Path(__file__).resolve().parents[2] / "shared" / "data" / "esconv"
PLANT_EVERY = 20
WORDS = ["really", "so", "very", "quite", "maybe", "just", "still", "also"]


def utterances() -> list[str]:
    from sweetiechat.io import read_dialogues

    out = []
    for split in ("train", "valid", "test"):
        for d in read_dialogues(ESCONV / f"{split}.json"):
            out.extend(t.text for t in d.turns if len(t.text.split()) >= 3)
    return out


def dialogue(pool: list[str], i: int) -> str:
    rng = random.Random(i)
    return "\n".join(rng.choice(pool) for _ in range(rng.randint(8, 20)))


def corpus(n: int) -> tuple[list[str], set[int]]:
    """``n`` texts and the indices of the planted near-duplicates."""
    pool = utterances()
    texts, planted = [], set()
    for i in range(n):
        if i >= 100 and i % PLANT_EVERY == 0:
            rng = random.Random(-i)
            source = texts[rng.randrange(max(0, i - 5000), i - 1)]
            words = source.split(" ")
            for k in range(len(words)):
                if rng.random() < 0.02:
                    words[k] = rng.choice(WORDS)
            texts.append(" ".join(words))
            planted.add(i)
        else:
            texts.append(dialogue(pool, i))
    return texts, planted


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(method: str, n: int, threshold: float, num_perm: int) -> dict[str, float]:
    texts, planted = corpus(n)
    from sweetiechat.quality.dedup import NearDuplicateIndex, all_pairs_duplicates

    storage = "datasketch" if method == "lsh-datasketch" else "compact"
    index = NearDuplicateIndex(threshold=threshold, num_perm=num_perm, storage=storage)
    before = maxrss_mb()
    cpu, wall = time.process_time(), time.perf_counter()
    if method.startswith("lsh"):
        flagged = {i for i, t in enumerate(texts) if index.add(str(i), t) is not None}
    else:
        flagged = {i for i, m in enumerate(all_pairs_duplicates(texts, threshold)) if m is not None}
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "cpu_s": cpu,
        "wall_s": wall,
        "peak_mb": maxrss_mb() - before,
        "recall": len(flagged & planted) / len(planted),
        "extra": len(flagged - planted),
        "planted": len(planted),
    }


def measure(method: str, n: int, args: argparse.Namespace) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", method, str(n)]
    cmd += ["--threshold", str(args.threshold), "--num-perm", str(args.num_perm)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def spread(values: list[float]) -> str:
    mid = statistics.median(values)
    if len(values) < 2:
        return f"{mid:.3g}"
    return f"{mid:.3g} ({min(values):.3g}-{max(values):.3g})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--all-pairs", type=int, nargs="+", default=[500, 1000])
    parser.add_argument(
        "--datasketch-sizes",
        type=int,
        nargs="*",
        default=[10_000],
        help="Sizes for LSH with datasketch's own bucket storage (memory comparison).",
    )
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threshold", type=float, default=0.7)
    parser.add_argument("--num-perm", type=int, default=64)
    parser.add_argument("--json", type=Path, default=None, help="Write all runs here.")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        method, n = args.child[0], int(args.child[1])
        print(json.dumps(child(method, n, args.threshold, args.num_perm)))
        return
    runs: dict[str, list[dict[str, float]]] = {}
    plan = [("lsh", n) for n in args.sizes]
    plan += [("lsh-datasketch", n) for n in args.datasketch_sizes]
    plan += [("all-pairs", n) for n in args.all_pairs]
    for r in range(args.repeats):
        for method, n in plan:
            result = measure(method, n, args)
            runs.setdefault(f"{method}:{n}", []).append(result)
            print(f"run {r + 1} {method:9s} n={n:>7}: {json.dumps(result)}", flush=True)
    # all-pairs: CPU time ~ a * n^2, fitted on the largest size measured
    largest = max(args.all_pairs)
    per_pair = statistics.median(x["cpu_s"] for x in runs[f"all-pairs:{largest}"]) / largest**2
    print(
        f"\nthreshold {args.threshold}, {args.num_perm} permutations, {args.repeats} runs each; "
        "median (min-max)\n"
    )
    print(
        "| n | method | CPU s | CPU ms / dialogue | wall s | peak MB | recall | extra "
        "| all-pairs / LSH CPU |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for n in sorted(set(args.sizes) | set(args.all_pairs) | set(args.datasketch_sizes)):
        lsh = runs.get(f"lsh:{n}")
        ds = runs.get(f"lsh-datasketch:{n}")
        if ds:
            cpu = [x["cpu_s"] for x in ds]
            print(
                f"| {n:,} | MinHash LSH, datasketch storage | {spread(cpu)} | "
                f"{spread([1000 * c / n for c in cpu])} | {spread([x['wall_s'] for x in ds])} | "
                f"{spread([x['peak_mb'] for x in ds])} | {spread([x['recall'] for x in ds])} | "
                f"{spread([x['extra'] for x in ds])} | |"
            )
        pairs = runs.get(f"all-pairs:{n}")
        ratio = ""
        if lsh:
            cpu = [x["cpu_s"] for x in lsh]
            pair_cpu = statistics.median(x["cpu_s"] for x in pairs) if pairs else per_pair * n * n
            ratio = f"{pair_cpu / statistics.median(cpu):.0f}x" + ("" if pairs else " (extrap.)")
            print(
                f"| {n:,} | MinHash LSH (compact) | {spread(cpu)} | "
                f"{spread([1000 * c / n for c in cpu])} | {spread([x['wall_s'] for x in lsh])} | "
                f"{spread([x['peak_mb'] for x in lsh])} | {spread([x['recall'] for x in lsh])} | "
                f"{spread([x['extra'] for x in lsh])} | {ratio} |"
            )
        if pairs:
            cpu = [x["cpu_s"] for x in pairs]
            print(
                f"| {n:,} | all pairs (exact) | {spread(cpu)} | "
                f"{spread([1000 * c / n for c in cpu])} | {spread([x['wall_s'] for x in pairs])} | "
                f"{spread([x['peak_mb'] for x in pairs])} | "
                f"{spread([x['recall'] for x in pairs])} | "
                f"{spread([x['extra'] for x in pairs])} | |"
            )
        elif lsh:
            est = per_pair * n * n
            print(
                f"| {n:,} | all pairs (extrapolated) | ~{est:,.0f} | ~{1000 * est / n:,.1f} "
                "| | | | | |"
            )
    if args.json:
        args.json.write_text(json.dumps(runs, indent=2))


if __name__ == "__main__":
    main()
