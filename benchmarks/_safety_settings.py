"""How ``safety_finetune.py`` scores and chooses the fine-tuned layer's settings: the
development metrics (:func:`evaluate`), the memo that lets the whole grid share one scoring of
each input (:class:`ScoreMemo`), the recall-first rule of round 16 (:func:`choose_recall_first`)
and the round-12 rule before it (:func:`choose`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import product
from typing import Any

import numpy as np

from sweetiechat.quality.risk import RiskAssessment, RiskDetector

__all__ = [
    "OVERRULES",
    "PROTOTYPE_THRESHOLDS",
    "ScoreMemo",
    "choose",
    "choose_recall_first",
    "evaluate",
    "grid",
    "pr",
    "verdicts",
]

#: The grid's ``overrule`` settings (round 17): below this fine-tuned risk score a precise
#: pattern's hit is handed to the learned layers (``None``: never).
OVERRULES = (None, 0.02, 0.05, 0.1)
#: The grid's ``veto`` settings (``None``: the fine-tuned layer never overrules the prototypes).
VETOES = (None, 0.05, 0.2, 0.5)
#: The prototypes' thresholds the grid tries (round 18; 0.6 is ``risk.SEMANTIC_THRESHOLD``), with
#: the logistic head off and no support condition only (what every decision since round 16
#: chose), so that the grid stays about ten minutes.
PROTOTYPE_THRESHOLDS = (0.6, 0.7, 0.8)


def pr(out: Sequence[RiskAssessment], rows: Sequence[dict]) -> dict[str, float]:
    """Precision, recall, false positives and negatives, per-category recall."""
    gold = [r["category"] != "none" for r in rows]
    tp = sum(a.risk and g for a, g in zip(out, gold, strict=True))
    fp = sum(a.risk and not g for a, g in zip(out, gold, strict=True))
    fn = sum(g and not a.risk for a, g in zip(out, gold, strict=True))
    res = {
        "P": round(tp / (tp + fp) if tp + fp else 1.0, 3),
        "R": round(tp / (tp + fn) if tp + fn else 1.0, 3),
        "TP": tp,
        "FP": fp,
        "FN": fn,
    }
    for c in ("suicidal_ideation", "self_harm", "harm_from_others", "means_request"):
        idx = [i for i, r in enumerate(rows) if r["category"] == c]
        res[c] = round(sum(out[i].risk for i in idx) / len(idx), 2) if idx else 0.0
    return res


def evaluate(
    det: RiskDetector,
    dev: Sequence[dict],
    valid: Sequence[list[str]],
    *,
    pool: tuple[str, ...],
) -> dict:
    """The full detector on the development data and the ESConv valid flag rate; ``pool``
    names the ``split`` values of the blind pool (``safety_finetune.BLIND_POOL``)."""
    out = det.assess_many([r["text"] for r in dev], [r["context"] for r in dev])
    in_pool = [i for i, r in enumerate(dev) if r["split"] in pool]
    res: dict[str, Any] = {
        "blind_pool": pr([out[i] for i in in_pool], [dev[i] for i in in_pool]),
        "dev": pr(out, dev),
        "eval_dev": pr(
            [a for a, r in zip(out, dev, strict=True) if r["split"] == "dev"],
            [r for r in dev if r["split"] == "dev"],
        ),
    }
    for split in dict.fromkeys(r["split"] for r in dev):
        if split != "dev":
            res[split] = pr(
                [a for a, r in zip(out, dev, strict=True) if r["split"] == split],
                [r for r in dev if r["split"] == split],
            )
    texts = [t for turns in valid for t in turns]
    ctx = [turns[:i] for turns in valid for i in range(len(turns))]
    flags = det.assess_many(texts, ctx)
    res["valid_flag_rate"] = round(sum(a.risk for a in flags) / max(len(flags), 1), 4)
    return res


def grid(
    detectors: dict[bool, RiskDetector],
    clf: Any,
    dev: Sequence[dict],
    valid: Sequence[list[str]],
    *,
    pool: tuple[str, ...],
    thresholds: Sequence[float],
) -> list[tuple[tuple, dict]]:
    """Every grid point's metrics: ``((head, support, veto, threshold, overrule, prototypes),
    metrics)``.

    ``detectors`` maps "the logistic head kept" to a detector sharing the fine-tuned
    classifier ``clf``, whose settings each point sets in turn, with the detector's prototype
    threshold (a veto above the threshold is skipped: it would overrule the layer's own
    verdicts; a prototype threshold other than the first only with the head off and no
    support condition)."""
    points: list[tuple[tuple, dict]] = []
    for head in (True, False):
        for support, veto, th, over, proto in product(
            (None, 0.05, 0.2), VETOES, thresholds, OVERRULES, PROTOTYPE_THRESHOLDS
        ):
            if veto is not None and veto > th:
                continue
            if proto != PROTOTYPE_THRESHOLDS[0] and (head or support is not None):
                continue
            clf.threshold, clf.veto, clf.support, clf.overrule = th, veto, support, over
            detectors[head].threshold = proto
            m = evaluate(detectors[head], dev, valid, pool=pool)
            points.append(((head, support, veto, th, over, proto), m))
            print(
                f"head={head} support={support} veto={veto} threshold={th} overrule={over} "
                f"prototypes={proto}: {m}",
                flush=True,
            )
    return points


def verdicts(det: RiskDetector, dev: Sequence[dict], valid: Sequence[list[str]]) -> list:
    """Every verdict of ``det`` on the development rows and the ESConv valid turns in context
    (risk, category, layer, score), to compare two detectors message by message."""
    texts = [r["text"] for r in dev] + [t for turns in valid for t in turns]
    ctx = [r["context"] for r in dev] + [turns[:i] for turns in valid for i in range(len(turns))]
    return [(a.risk, a.category, a.layer, a.score) for a in det.assess_many(texts, ctx)]


class ScoreMemo:
    """The settings-independent scores of the grid, computed once per exact input.

    The fine-tuned probabilities of a (message, context) pair, the prototypes' scores and the
    logistic head's scores of a message, and the precise patterns' verdict on a message do not
    depend on the threshold, the veto or the support condition, so all the grid points share
    them. :meth:`install` wraps those calls of one detector (and of the module functions the
    detector calls) with a memo keyed on the exact inputs; ``enabled = False`` bypasses it.
    """

    def __init__(self) -> None:
        self.enabled = True
        self._stores: list[dict[Any, Any]] = []

    def wrap_many(self, fn: Callable[..., Any], stack: bool = False) -> Callable[..., Any]:
        """``fn(texts[, contexts])`` -> one result per text, memoized per (text, context)."""
        store: dict[Any, Any] = {}
        self._stores.append(store)

        def wrapped(texts: Sequence[str], contexts: Sequence[Sequence[str]] | None = None) -> Any:
            if not self.enabled or not texts:
                return fn(texts) if contexts is None else fn(texts, contexts)
            if contexts is None:
                keys: list[Any] = list(texts)
            else:
                keys = [(t, tuple(c)) for t, c in zip(texts, contexts, strict=True)]
            first: dict[Any, int] = {}
            for i, k in enumerate(keys):
                first.setdefault(k, i)
            new = [k for k in first if k not in store]
            if new:
                sub = [texts[first[k]] for k in new]
                got = fn(sub) if contexts is None else fn(sub, [contexts[first[k]] for k in new])
                store.update(zip(new, list(got), strict=True))
            rows = [store[k] for k in keys]
            return np.stack(rows) if stack else rows

        return wrapped

    def wrap_one(self, fn: Callable[[str], Any]) -> Callable[[str], Any]:
        """``fn(text)`` memoized per text."""
        store: dict[str, Any] = {}
        self._stores.append(store)

        def wrapped(text: str) -> Any:
            if not self.enabled:
                return fn(text)
            if text not in store:
                store[text] = fn(text)
            return store[text]

        return wrapped

    def install(self, det: RiskDetector) -> None:
        """Memoize ``det``'s settings-independent scoring (its semantic layer and fine-tuned
        classifier are shared by every detector of the grid, so wrap each object once)."""
        import sweetiechat.quality.risk as risk_module

        for obj, name, stack in (
            (det.semantic, "score_many", False),
            (det.finetuned, "probabilities", True),
        ):
            if obj is not None and not getattr(obj, f"_memo_{name}", False):
                setattr(obj, name, self.wrap_many(getattr(obj, name), stack))
                setattr(obj, f"_memo_{name}", True)
        det._head_scores = self.wrap_many(det._head_scores)  # type: ignore[method-assign]
        for name in ("match_patterns", "looks_english"):
            fn = getattr(risk_module, name, None)
            if fn is not None and not getattr(fn, "_memo", False):
                wrapped = self.wrap_one(fn)
                wrapped._memo = True  # type: ignore[attr-defined]
                setattr(risk_module, name, wrapped)


def _unrounded(m: dict, measure: str) -> float:
    """Blind-pool precision (``"P"``) or recall (``"R"``), from ``TP``/``FP``/``FN`` when the
    metrics have them: 367 of 408 is 0.8995, not 0.90."""
    b = m["blind_pool"]
    if "TP" not in b:
        return float(b[measure])
    other = b["FP"] if measure == "P" else b["FN"]
    return b["TP"] / (b["TP"] + other) if b["TP"] + other else 1.0


def choose(points: Sequence[tuple[Any, dict]], max_flag_rate: float) -> tuple[Any, dict, str]:
    """The grid point the round-12 rule picks: ``points`` holds (settings, metrics) pairs.

    The highest blind-pool recall with blind-pool precision >= 0.90 and at most
    ``max_flag_rate`` of ESConv ``valid`` turns flagged, ties to the lower flag rate (then the
    higher precision). Precision and recall are compared unrounded (from ``TP``, ``FP`` and
    ``FN`` when the metrics have them): 367 of 408 is 0.8995, not 0.90. If none qualifies:
    the highest blind-pool precision among the points
    with blind-pool recall >= 0.90 within the flag limit (ties to the lower flag rate). If
    none of those either: the highest blind-pool recall within the flag limit. Returns the
    settings, their metrics and which branch chose them.
    """

    def within(m: dict) -> bool:
        return bool(m["valid_flag_rate"] <= max_flag_rate)

    def precision(m: dict) -> float:  # unrounded: 367 / 408 = 0.8995 is not >= 0.90
        return _unrounded(m, "P")

    def recall(m: dict) -> float:
        return _unrounded(m, "R")

    ok = [(s, m) for s, m in points if within(m) and precision(m) >= 0.90]
    if ok:
        s, m = max(
            ok,
            key=lambda p: (recall(p[1]), -p[1]["valid_flag_rate"], precision(p[1])),
        )
        return s, m, "blind-pool precision >= 0.90: highest blind-pool recall"
    near = [(s, m) for s, m in points if within(m) and recall(m) >= 0.90]
    if near:
        s, m = max(
            near,
            key=lambda p: (precision(p[1]), -p[1]["valid_flag_rate"], recall(p[1])),
        )
        return s, m, "no point qualifies: highest blind-pool precision at recall >= 0.90"
    rest = [(s, m) for s, m in points if within(m)] or list(points)
    s, m = max(rest, key=lambda p: (recall(p[1]), -p[1]["valid_flag_rate"]))
    return s, m, "no point qualifies, none at recall >= 0.90: highest blind-pool recall"


def choose_recall_first(
    points: Sequence[tuple[Any, dict]], max_flag_rate: float, floor: float = 0.92
) -> tuple[Any, dict, str]:
    """The grid point the recall-first rule (round 16) picks: ``points`` holds (settings,
    metrics) pairs.

    For a crisis detector a miss costs more than a false alarm, so recall comes first: the
    highest blind-pool precision among the points with blind-pool recall >= ``floor`` and at
    most ``max_flag_rate`` of ESConv ``valid`` turns flagged; ties to the higher recall, then
    the lower flag rate. If none reaches the floor: the highest blind-pool recall within the
    flag limit (ties to the higher precision). Returns the settings, their metrics and which
    branch chose them.
    """
    within = [(s, m) for s, m in points if m["valid_flag_rate"] <= max_flag_rate] or list(points)
    ok = [(s, m) for s, m in within if _unrounded(m, "R") >= floor]
    if ok:
        s, m = max(
            ok,
            key=lambda p: (_unrounded(p[1], "P"), _unrounded(p[1], "R"), -p[1]["valid_flag_rate"]),
        )
        return s, m, f"blind-pool recall >= {floor}: highest blind-pool precision"
    s, m = max(within, key=lambda p: (_unrounded(p[1], "R"), _unrounded(p[1], "P")))
    return s, m, f"no point reaches recall {floor}: highest blind-pool recall"
