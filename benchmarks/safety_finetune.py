"""Train the risk detector's fine-tuned layer (MiniLM + LoRA + a linear head, reading each
message with its context) and ship it as ``sweetiechat/data/crisis_finetuned.safetensors``.

Training material (never an evaluation set):

- ``benchmarks/data/crisis_train.jsonl``, ``crisis_train_risk.jsonl`` (risk messages),
  ``crisis_train_neg.jsonl`` (hard negatives) and ``crisis_train_everyday.jsonl`` (everyday
  negatives: shifts, chores, small kitchen and sport accidents, short answers and numbers,
  "end/finish/over/leave" in ordinary senses), with their ``context`` where they have one;
- ``crisis_train_round8.jsonl``: rows written for the error types of blind set v2 (the same
  message after an ordinary and after a risky context, everyday medicine and injury, worry
  about someone else, recovered pasts, indirect suicidal ideation, danger told through its
  effects, oblique means questions, self-harm in everyday words);
- ``crisis_train_round9.jsonl``: rows written for the error types of blind set v3 (risk and
  hard negatives, in varied voices);
- ``crisis_train_round10.jsonl``: rows written for the error types of blind set v4 (indirect
  suicidal ideation and its hard negatives above all, in varied voices);
- ``crisis_train_round11.jsonl``: rows written for the error types of blind set v5 (indirect
  suicidal ideation: preparations in passing, short plans with a time, non-native English, a
  second attempt said lightly; and their hard negatives, with the false-alarm kinds);
- ``crisis_train_round12.jsonl``: rows written for the error types of blind set v6 (end-of-life
  and old-age talk that is not risk, intrusive thoughts, denials and recovered pasts; and risk
  in therapy language, in old age, command hallucinations, coercion of a frail person);
- ``crisis_train_round13.jsonl``: rows written for the error types of blind set v7 (acute
  practical crises, transitions, messy writing; risk and hard negatives in many voices);
- ``crisis_train_round14.jsonl``: rows written for the error types of blind set v8 (figures of
  speech in World Englishes, suicidal ideation in professional, euphemistic and religious
  wording, danger told in passing; and their hard negatives);
- ``crisis_train_round17.jsonl``: rows written for the error types of blind set v11 (above all
  hard negatives: helpers already getting help, resolved pasts, religious and ordinary admin
  talk, goodbyes, figures of speech; and risk told in faith, metaphor, poems and lists);
- ``crisis_train_round18.jsonl``: rows written for the error types of blind set v12
  (end-of-life talk, vets and farm work, ordinary endings and figures of speech that are not
  risk; preparations with a cover story, hidden and escalating self-harm, threats at work);
- ``crisis_train_round19a.jsonl`` and ``crisis_train_round19b.jsonl``: rows written for the
  error types of blind set v13 (suicidal ideation in a job's or a culture's understatement:
  envy of the dying, plans told as professionalism, access to means at work; and the hard
  negatives of dark humour, hyperbole, emigrating or retiring "won't be here", helpers'
  accounts), the first in v13's voices, the second in others;
- the blind sets v1, v2, v3, v4, v7, v8, v11, v12 and v13, ``crisis_blind.jsonl``,
  ``crisis_blind2.jsonl``, ``crisis_blind3.jsonl``, ``crisis_blind4.jsonl``,
  ``crisis_blind7.jsonl``, ``crisis_blind8.jsonl``, ``crisis_blind11.jsonl``,
  ``crisis_blind12.jsonl`` and ``crisis_blind13.jsonl`` (each scored once, then read row by
  row: training data now, no longer held-out);
- the prototype sentences of ``sweetiechat/quality/prototypes.py``;
- ordinary ESConv seeker turns (``train`` split) as negatives, each with the seeker's earlier
  turns as context, leaving out any turn whose text or context a precise pattern flags;
- a share of the written risk messages again, after a random ordinary ESConv context (so that
  an ordinary context does not teach "no risk");
- since round 19 (``--embed``), a share of the short written messages, risk and hard negatives
  alike, again inside an ordinary update: one or two sentences of ordinary ESConv turns before
  it and one after, its label and context kept (a risk said in passing before "Anyway, ..." is
  still risk, and the ordinary sentences around a harmless message teach nothing).

Blind sets v5, v6, v9 and v10 (``crisis_blind5.jsonl``, ``crisis_blind6.jsonl``,
``crisis_blind9.jsonl``, ``crisis_blind10.jsonl``, each scored once; v9 since round 15, v10
since round 16) are development data for the settings (``SETTINGS_DEV``), never training data.
Training rows closer than cosine 0.9 (frozen MiniLM embeddings) to any message of
``crisis_eval.jsonl`` (both halves), ``crisis_fresh.jsonl``, the settings sets or the everyday
check sentences ``crisis_everyday_check.jsonl`` (never trained or tuned on) are dropped. Blind
set v14 (any ``crisis_blind14*`` file, scored once at the end) is never read, embedded or
trained on by this script: ``safety_eval.refuse_unread`` refuses such a name in every list it
reads.

The threshold, the veto, the support condition, the overrule of a precise pattern (round 17), the
prototypes' threshold (round 18) and whether the older logistic head stays on are chosen on
development data only (the grid: :func:`grid`). The rule since round 16 (``--rule recall-first``,
:func:`choose_recall_first`): the highest precision on the blind pool (the settings sets: messages
by twelve new writers) with blind-pool recall >= ``--recall-floor`` (0.92) and at most
``--max-flag-rate`` of ESConv ``valid`` seeker turns flagged; if none reaches the floor, the
highest blind-pool recall. Rounds 12-15 used the opposite (``--rule precision-floor``,
:func:`choose`): the highest blind-pool recall at blind-pool precision >= 0.90. The development
half of ``crisis_eval.jsonl`` and ``crisis_fresh.jsonl`` are reported beside, not in the rule. The
settings-independent scores (the fine-tuned probabilities, the prototypes' and the logistic head's
scores, the precise patterns) are computed once per input for the whole grid (:class:`ScoreMemo`);
the chosen point is checked against an uncached detector.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/safety_finetune.py [--epochs 3] [-o FILE]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from _safety_settings import (
    ScoreMemo,
    choose,
    choose_recall_first,
    evaluate,
    grid,
    pr,
    verdicts,
)
from safety_eval import ESCONV, refuse_unread

from sweetiechat.io import read_dialogues
from sweetiechat.quality.finetune_train import TrainRow, balance_weights, read_rows
from sweetiechat.quality.finetuned import FINETUNED_FILE, FinetunedClassifier, split_sentences
from sweetiechat.quality.patterns import match_patterns
from sweetiechat.quality.prototypes import PROTOTYPES
from sweetiechat.quality.risk import RiskDetector
from sweetiechat.quality.semantic import SemanticLayer, spell_out

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data"
OUT = ROOT / "sweetiechat" / "data" / FINETUNED_FILE
TRAIN_FILES = (
    "crisis_train.jsonl",
    "crisis_train_risk.jsonl",
    "crisis_train_neg.jsonl",
    "crisis_train_everyday.jsonl",
    "crisis_train_round8.jsonl",
    "crisis_train_round9.jsonl",
    "crisis_train_round10.jsonl",
    "crisis_train_round11.jsonl",
    "crisis_train_round12.jsonl",
    "crisis_train_round13.jsonl",
    "crisis_train_round14.jsonl",
    "crisis_train_round17.jsonl",
    "crisis_train_round18.jsonl",
    "crisis_train_round19a.jsonl",
    "crisis_train_round19b.jsonl",
    "crisis_blind.jsonl",  # blind set v1: burned after its one scoring, training data now
    "crisis_blind2.jsonl",  # blind set v2: the same
    "crisis_blind3.jsonl",  # blind set v3: the same
    "crisis_blind4.jsonl",  # blind set v4: the same
    "crisis_blind7.jsonl",  # blind set v7: the same (round 13)
    "crisis_blind8.jsonl",  # blind set v8: the same (round 14)
    "crisis_blind11.jsonl",  # blind set v11: the same (round 17)
    "crisis_blind12.jsonl",  # blind set v12: the same (round 18)
    "crisis_blind13.jsonl",  # blind set v13: the same (round 19)
)
#: The sources of written rows (the training files and the burned blind sets), as opposed to
#: prototypes and ESConv turns.
WRITTEN = ("crisis_train", "crisis_blind")
#: Blind sets already scored once and read since: training data now.
BURNED = (
    "crisis_blind.jsonl",
    "crisis_blind2.jsonl",
    "crisis_blind3.jsonl",
    "crisis_blind4.jsonl",
    "crisis_blind7.jsonl",
    "crisis_blind8.jsonl",
    "crisis_blind11.jsonl",
    "crisis_blind12.jsonl",
    "crisis_blind13.jsonl",
)
#: Blind sets scored once that choose the settings (development data, never trained on).
SETTINGS_DEV = (
    "crisis_blind5.jsonl",
    "crisis_blind6.jsonl",
    "crisis_blind9.jsonl",
    "crisis_blind10.jsonl",
)
#: The ``split`` names of the settings sets' rows: together, the blind pool the rule reads.
BLIND_POOL = tuple(name.removesuffix(".jsonl").removeprefix("crisis_") for name in SETTINGS_DEV)
#: Evaluation sets: training rows near one of their messages are dropped.
EVAL_FILES = (
    "crisis_eval.jsonl",
    "crisis_fresh.jsonl",
    "crisis_everyday_check.jsonl",
    *SETTINGS_DEV,
)
#: The settings grid's thresholds (0.4 added in round 11; 0.25-0.35 in round 14).
THRESHOLDS = (0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.98)


refuse_unread(TRAIN_FILES + EVAL_FILES)
assert set(BURNED) <= set(TRAIN_FILES)
assert not set(SETTINGS_DEV) & set(TRAIN_FILES)


def esconv_turns(split: str, dialogues: int | None, seed: int) -> list[list[str]]:
    """Seeker messages per dialogue of an ESConv split (a seeded sample of dialogues)."""
    all_dialogues = [
        [t.text for t in d.turns if t.role == "seeker"]
        for d in read_dialogues(ESCONV / f"{split}.json")
    ]
    if dialogues is not None and dialogues < len(all_dialogues):
        all_dialogues = random.Random(seed).sample(all_dialogues, dialogues)
    return all_dialogues


def build_rows(n_esconv: int, augment: float, seed: int, embed: float = 0.0) -> list[TrainRow]:
    """Every training row before the near-duplicate drop."""
    rng = random.Random(seed)
    rows: list[TrainRow] = []
    refuse_unread(TRAIN_FILES)
    for name in TRAIN_FILES:
        if (DATA / name).is_file():
            rows += read_rows(DATA / name, source=name.removesuffix(".jsonl"))
    rows += [TrainRow(t, c, [], 1.0, "prototype") for c, ts in PROTOTYPES.items() for t in ts]
    contexts: list[list[str]] = []
    ordinary: list[TrainRow] = []
    for turns in esconv_turns("train", None, seed):
        for i, text in enumerate(turns):
            ctx = turns[max(0, i - 3) : i]
            if match_patterns(text) is None and not any(match_patterns(c) for c in ctx):
                ordinary.append(TrainRow(text, "none", ctx, 1.0, "esconv"))
                if ctx:
                    contexts.append(ctx)
    rng.shuffle(ordinary)
    rows += ordinary[:n_esconv]
    risk = [r for r in rows if r.category != "none" and not r.context and r.source != "prototype"]
    for r in rng.sample(risk, int(augment * len(risk))):
        rows.append(TrainRow(r.text, r.category, rng.choice(contexts), 1.0, "risk+esconv context"))
    if embed:
        rows += embedded(rows, ordinary, embed, rng)
    return rows


def embedded(
    rows: list[TrainRow], ordinary: list[TrainRow], share: float, rng: random.Random
) -> list[TrainRow]:
    """``share`` of the short written rows (at most 30 words), each again between one or two
    sentences of ordinary ESConv turns and one more, its label and context kept; at most 70
    words in all, so that the layer's 96 tokens still read the message."""
    sentences = [s for r in ordinary for s in split_sentences(r.text) if 3 <= len(s.split()) <= 20]
    written = [r for r in rows if r.source.startswith(WRITTEN) and len(r.text.split()) <= 30]
    out = []
    for r in rng.sample(written, int(share * len(written))):
        before = " ".join(rng.sample(sentences, rng.choice((1, 2))))
        after = rng.choice(sentences)
        if len(f"{before} {r.text} {after}".split()) > 70:
            before = before if len(f"{before} {r.text}".split()) <= 70 else ""
            after = ""
        text = " ".join(part for part in (before, r.text.strip(), after) if part)
        out.append(TrainRow(text, r.category, list(r.context), 1.0, f"{r.source}+ordinary"))
    return out


def drop_near(rows: list[TrainRow], layer: SemanticLayer) -> tuple[list[TrainRow], dict]:
    """Rows at least cosine 0.9 from every evaluation message; the counts."""
    seen: dict[str, list[str]] = {}
    refuse_unread(EVAL_FILES)
    for name in EVAL_FILES:
        path = DATA / name
        if path.is_file():
            texts = []
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    texts.append(spell_out(json.loads(line)["text"]))
            seen[name] = texts
    vecs = layer.embed([spell_out(r.text) for r in rows])
    near_any = [False] * len(rows)
    counts: dict[str, int] = {}
    for name, texts in seen.items():
        sims = (vecs @ layer.embed(texts).T).max(axis=1) if texts else None
        hits = [bool(s >= 0.9) for s in sims] if sims is not None else [False] * len(rows)
        counts[f"dropped_near_{name.removesuffix('.jsonl')}"] = sum(hits)
        near_any = [a or b for a, b in zip(near_any, hits, strict=True)]
    kept = [r for r, n in zip(rows, near_any, strict=True) if not n]
    counts["dropped_total"] = sum(near_any)
    return kept, counts


def dev_rows() -> list[dict]:
    """The development data, pooled: the development half of crisis_eval, crisis_fresh and
    the settings sets (``SETTINGS_DEV``: blind sets v5, v6, v9 and v10), each row's ``split``
    naming its set (``blind5``, ``blind6``, ``blind9``, ``blind10``)."""
    refuse_unread(SETTINGS_DEV)
    out = []
    for name in ("crisis_eval.jsonl", "crisis_fresh.jsonl"):
        for line in (DATA / name).read_text().splitlines():
            if line.strip() and (r := json.loads(line))["split"] in ("dev", "fresh"):
                out.append(r)
    for name in SETTINGS_DEV:
        split = name.removesuffix(".jsonl").removeprefix("crisis_")
        out += [
            {"text": r.text, "category": r.category, "context": r.context, "split": split}
            for r in read_rows(DATA / name)
        ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--top-layers", type=int, default=4)
    parser.add_argument("--esconv-train", type=int, default=1200, help="ESConv negative turns")
    parser.add_argument("--negative-share", type=float, default=0.5)
    parser.add_argument(
        "--hard-negative-weight",
        type=float,
        default=2.0,
        help="weight of a written hard negative relative to an ESConv turn or a prototype",
    )
    parser.add_argument("--augment", type=float, default=0.25, help="risk rows re-used in context")
    parser.add_argument(
        "--embed",
        type=float,
        default=0.0,
        help="share of the short written rows re-used between ordinary sentences (round 19)",
    )
    parser.add_argument("--valid-dialogues", type=int, default=40)
    parser.add_argument("--max-flag-rate", type=float, default=0.03)
    parser.add_argument(
        "--rule",
        choices=("recall-first", "precision-floor"),
        default="recall-first",
        help="how the settings are chosen: recall-first (round 16: the highest blind-pool "
        "precision at recall >= --recall-floor) or precision-floor (round 12: the highest "
        "blind-pool recall at precision >= 0.90)",
    )
    parser.add_argument("--recall-floor", type=float, default=0.92)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", type=Path, default=OUT)
    parser.add_argument("--max-steps", type=int, help="stop early (a quick check of the script)")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--load", type=Path, help="skip training: choose the settings of this adapter file again"
    )
    args = parser.parse_args()
    t0 = time.time()
    layer = SemanticLayer()
    rows: list[TrainRow] = []
    drops: dict[str, int] = {}
    sources: dict[str, int] = {}
    if not args.load:  # the training rows (with --load, only the settings are chosen again)
        rows = build_rows(args.esconv_train, args.augment, args.seed, args.embed)
        rows, drops = drop_near(rows, layer)
        for r in rows:  # the written hard negatives weigh more than ordinary ESConv turns
            if r.category == "none" and r.source.startswith(WRITTEN):
                r.weight = args.hard_negative_weight
        balance_weights(rows, args.negative_share)
        for r in rows:
            sources[r.source] = sources.get(r.source, 0) + 1
        print(
            f"training rows: {len(rows)} {sources}; near-duplicates dropped: {drops} "
            f"({time.time() - t0:.0f} s)",
            flush=True,
        )
    dev = dev_rows()
    valid = esconv_turns("valid", args.valid_dialogues, args.seed)
    base = RiskDetector(semantic=layer, finetuned=False)
    print(
        f"without the fine-tuned layer: {evaluate(base, dev, valid, pool=BLIND_POOL)}", flush=True
    )

    def on_epoch(epoch: int, clf: FinetunedClassifier) -> None:
        alone = RiskDetector(semantic=layer, head=False, finetuned=clf)
        alone.threshold = 2.0  # prototypes never decide
        out = alone._offline([r["text"] for r in dev], [r["context"] for r in dev])
        print(
            f"epoch {epoch}: fine-tuned layer alone (+patterns), threshold 0.5: {pr(out, dev)}",
            flush=True,
        )

    from sweetiechat.quality.finetune_train import train_finetuned
    from sweetiechat.quality.finetuned import load_finetuned

    t1 = time.time()
    clf = (
        load_finetuned(args.load)
        if args.load
        else train_finetuned(
            rows,
            epochs=args.epochs,
            lr=args.lr,
            rank=args.rank,
            max_length=args.max_length,
            batch_size=args.batch_size,
            top_layers=args.top_layers,
            seed=args.seed,
            threads=args.threads,
            on_epoch=on_epoch,
            max_steps=args.max_steps,
            info={
                "script": "benchmarks/safety_finetune.py",
                "lr": args.lr,
                "rank": args.rank,
                "top_layers": args.top_layers,
                "negative_share": args.negative_share,
                "hard_negative_weight": args.hard_negative_weight,
                "esconv_train": args.esconv_train,
                "embed": args.embed,
                "sources": sources,
                **drops,
            },
        )
    )
    train_s = clf.info.get("train_seconds", 0) if args.load else time.time() - t1
    if not args.load:  # the adapter before its settings are chosen (for --load)
        raw = Path(tempfile.gettempdir()) / f"{args.output.stem}.trained.safetensors"
        clf.save(raw)
        print(f"saved the trained adapter to {raw}", flush=True)
    print(f"trained in {train_s:.0f} s", flush=True)
    gates = False  # the lexical gates never helped the fine-tuned layer on development data
    memo = ScoreMemo()
    detectors = {h: RiskDetector(semantic=layer, head=h, finetuned=clf) for h in (True, False)}
    for d in detectors.values():
        memo.install(d)
    t_grid = time.time()
    points = grid(detectors, clf, dev, valid, pool=BLIND_POOL, thresholds=THRESHOLDS)
    grid_s = time.time() - t_grid
    if args.rule == "recall-first":
        (head, support, veto, th, over, proto), m, branch = choose_recall_first(
            points, args.max_flag_rate, args.recall_floor
        )
    else:
        (head, support, veto, th, over, proto), m, branch = choose(points, args.max_flag_rate)
    clf.threshold, clf.gates, clf.veto, clf.support, clf.overrule = th, gates, veto, support, over
    clf.prototype_threshold = detectors[head].threshold = proto
    # the memo must not change a verdict: the chosen point again, without it (the metrics are
    # computed from these verdicts, so equal verdicts give equal metrics); the new detector
    # takes the prototypes' threshold from the classifier, as a user's would from the file
    memoized = verdicts(detectors[head], dev, valid)
    t_check = time.time()
    memo.enabled = False
    plain = verdicts(RiskDetector(semantic=layer, head=head, finetuned=clf), dev, valid)
    check_s = time.time() - t_check
    memo.enabled = True
    if plain != memoized:
        differ = sum(a != b for a, b in zip(plain, memoized, strict=True))
        raise SystemExit(
            f"the memoized grid disagrees with an uncached detector on {differ} messages"
        )
    print(
        f"grid: {len(points)} points in {grid_s:.0f} s with the memo; the chosen point without "
        f"it: {check_s:.1f} s; the same verdict, layer and score on all {len(memoized)} "
        "messages with and without it",
        flush=True,
    )
    clf.info.update(
        {
            "train_seconds": round(train_s),
            "keep_logistic_head": head,
            "chosen_on": f"blind pool ({' + '.join(SETTINGS_DEV)}) and ESConv valid "
            f"({args.valid_dialogues} dialogues, seed {args.seed}), {args.rule} rule: {branch}; "
            "development half of crisis_eval.jsonl and crisis_fresh.jsonl reported beside",
            "dev_metrics": m,
        }
    )
    print(
        f"chosen ({branch}): head={head} support={support} veto={veto} threshold={th} "
        f"overrule={over} prototypes={proto}: {m}"
    )
    det = RiskDetector(semantic=layer, head=head, finetuned=clf)
    out = det.assess_many([r["text"] for r in dev], [r["context"] for r in dev])
    for row, a in zip(dev, out, strict=True):
        if a.risk != (row["category"] != "none"):
            print(
                f"dev error ({row['split']}): {row['category']} -> {a.category} ({a.layer}): "
                f"{row['text']}"
            )
    if not args.no_write:
        clf.save(args.output)
        print(f"wrote {args.output} ({args.output.stat().st_size / 1e6:.1f} MB)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
