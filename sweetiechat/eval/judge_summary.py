"""What the judges said, summed up: win/tie/loss per dimension and judge, position bias,
agreement between judges (Fleiss' kappa) and of each judge with itself across runs
(Cohen's kappa); and the same for 1-5 dataset ratings. Plus the rich tables and the PNGs.

``summary.json`` is :func:`summarize_pairwise`'s (or :func:`summarize_ratings`') dict.
Win/tie/loss counts pool every run. Kappas are NaN (``null`` in JSON) when there is nothing
to compare.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sweetiechat.eval.agreement import (
    category_table,
    cohen_kappa,
    fleiss_kappa,
    percent_agreement,
    position_bias,
    win_tie_loss,
)
from sweetiechat.eval.judge import Judgment
from sweetiechat.eval.judge_dataset import Rating

__all__ = [
    "compare_judgments",
    "plot_ratings",
    "plot_win_tie_loss",
    "ratings_table",
    "summarize_pairwise",
    "summarize_ratings",
    "summary_table",
    "write_json",
]

WINNERS = ("a", "tie", "b")


def _clean(value: Any) -> Any:
    """NaN -> None, recursively, so the JSON is standard."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def write_json(data: dict[str, Any], path: Path) -> Path:
    """Write ``data`` atomically as indented JSON (NaN as null)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(_clean(data), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def _ordered(names: Sequence[str], order: Sequence[str]) -> list[str]:
    known = [n for n in order if n in names]
    return known + sorted(set(names) - set(known))


def _self_agreement(by_key: dict[tuple[Any, ...], Any], runs: list[int]) -> dict[str, Any]:
    """Cohen's kappa and raw agreement between run ``runs[0]`` and each later run, over the
    subjects both runs answered. ``by_key``: (subject, run) -> label (None = missing)."""
    out: dict[str, Any] = {}
    subjects = sorted({k[0] for k in by_key}, key=str)
    for later in runs[1:]:
        x, y = [], []
        for s in subjects:
            u, v = by_key.get((s, runs[0])), by_key.get((s, later))
            if u is not None and v is not None:
                x.append(u)
                y.append(v)
        out[f"{runs[0]}-{later}"] = {
            "n": len(x),
            "kappa": cohen_kappa(x, y),
            "agreement": percent_agreement(x, y),
        }
    return out


def summarize_pairwise(
    judgments: Sequence[Judgment], dimensions: Sequence[str], *, a: str = "A", b: str = "B"
) -> dict[str, Any]:
    """Win/tie/loss (A's view), position bias, Fleiss' kappa between judges (per run, over
    the questions every judge answered) and self-agreement across runs, each per dimension
    and over all dimensions."""
    judges = sorted({j.judge for j in judgments})
    runs = sorted({j.run for j in judgments})
    dims = _ordered(list({j.dimension for j in judgments}), dimensions)
    result: dict[str, Any] = {
        "systems": {"a": a, "b": b},
        "items": len({j.item for j in judgments}),
        "judges": judges,
        "runs": runs,
        "dimensions": dims,
        "win_tie_loss": {},
        "position_bias": {},
        "self_agreement": {},
        "fleiss_kappa": {},
    }
    for judge in judges:
        mine = [j for j in judgments if j.judge == judge]
        result["win_tie_loss"][judge] = {
            d: win_tie_loss([j.winner for j in mine if j.dimension == d]).as_dict() for d in dims
        }
        result["position_bias"][judge] = {
            "all": position_bias([j.answer for j in mine]).as_dict(),
            **{d: position_bias([j.answer for j in mine if j.dimension == d]).as_dict()
               for d in dims},
        }  # fmt: skip
        if len(runs) > 1:
            per_dim = {
                d: _self_agreement(
                    {(j.item, j.run): j.winner for j in mine if j.dimension == d}, runs
                )
                for d in dims
            }
            overall = _self_agreement(
                {((j.item, j.dimension), j.run): j.winner for j in mine}, runs
            )
            result["self_agreement"][judge] = {"all": overall, **per_dim}
    if len(judges) > 1:
        for run in runs:
            answers: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
            for j in judgments:
                if j.run == run and j.winner is not None:
                    answers[(j.item, j.dimension)][j.judge] = j.winner
            full = {k: v for k, v in answers.items() if len(v) == len(judges)}

            def kappa(
                keys: list[tuple[str, str]], full: dict[tuple[str, str], dict[str, str]] = full
            ) -> dict[str, Any]:
                table = category_table([list(full[k].values()) for k in keys], WINNERS)
                return {"n": len(keys), "kappa": fleiss_kappa(table)}

            result["fleiss_kappa"][str(run)] = {
                "all": kappa(sorted(full)),
                **{d: kappa(sorted(k for k in full if k[1] == d)) for d in dims},
            }
    return result


def compare_judgments(
    first: Sequence[Judgment], second: Sequence[Judgment], dimensions: Sequence[str]
) -> dict[str, Any]:
    """Agreement between two sets of judgments of the same items (two invocations of one
    judge, two judges, or people and an LLM): Cohen's kappa and raw agreement on the
    winners, per dimension and over all, over the (item, dimension) questions both answered.
    Where a set holds several judges or runs, each question's first judgment is taken."""

    def winners(judgments: Sequence[Judgment]) -> dict[tuple[str, str], str]:
        out: dict[tuple[str, str], str] = {}
        for j in sorted(judgments, key=lambda j: (j.run, j.judge)):
            if j.winner is not None:
                out.setdefault((j.item, j.dimension), j.winner)
        return out

    one, two = winners(first), winners(second)
    common = sorted(set(one) & set(two))
    dims = _ordered(list({k[1] for k in common}), dimensions)

    def stats(keys: list[tuple[str, str]]) -> dict[str, Any]:
        x, y = [one[k] for k in keys], [two[k] for k in keys]
        return {"n": len(keys), "kappa": cohen_kappa(x, y), "agreement": percent_agreement(x, y)}

    return {
        "all": stats(common),
        **{d: stats([k for k in common if k[1] == d]) for d in dims},
    }


def summarize_ratings(ratings: Sequence[Rating], dimensions: Sequence[str]) -> dict[str, Any]:
    """Per judge and dimension: mean, standard deviation, the 1-5 distribution and missing;
    self-agreement across runs (Cohen's kappa on the ratings, and the share within 1 point)
    and Fleiss' kappa between judges per run."""
    judges = sorted({r.judge for r in ratings})
    runs = sorted({r.run for r in ratings})
    dims = _ordered(list({r.dimension for r in ratings}), dimensions)
    result: dict[str, Any] = {
        "dialogues": len({r.dialogue for r in ratings}),
        "judges": judges,
        "runs": runs,
        "dimensions": dims,
        "ratings": {},
        "self_agreement": {},
        "fleiss_kappa": {},
    }
    for judge in judges:
        mine = [r for r in ratings if r.judge == judge]
        per: dict[str, Any] = {}
        for d in dims:
            values = [r.rating for r in mine if r.dimension == d and r.rating is not None]
            n = len(values)
            mean = sum(values) / n if n else math.nan
            sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else math.nan
            per[d] = {
                "n": n,
                "mean": mean,
                "sd": sd,
                "counts": {str(k): values.count(k) for k in range(1, 6)},
                "missing": sum(1 for r in mine if r.dimension == d and r.rating is None),
            }
        result["ratings"][judge] = per
        if len(runs) > 1:
            by_key = {((r.dialogue, r.dimension), r.run): r.rating for r in mine}
            agreement = _self_agreement(by_key, runs)
            for pair, stats in agreement.items():
                later = int(pair.split("-")[1])
                close = [
                    abs(by_key[(s, runs[0])] - by_key[(s, later)]) <= 1  # type: ignore[operator]
                    for (s, run) in by_key
                    if run == runs[0]
                    and by_key.get((s, runs[0])) is not None
                    and by_key.get((s, later)) is not None
                ]
                stats["within_1"] = sum(close) / len(close) if close else math.nan
            result["self_agreement"][judge] = agreement
    if len(judges) > 1:
        for run in runs:
            answers: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
            for r in ratings:
                if r.run == run and r.rating is not None:
                    answers[(r.dialogue, r.dimension)][r.judge] = r.rating
            full = [list(v.values()) for v in answers.values() if len(v) == len(judges)]
            table = category_table(full, [1, 2, 3, 4, 5])
            result["fleiss_kappa"][str(run)] = {"n": len(full), "kappa": fleiss_kappa(table)}
    return result


def _fmt(x: Any, pct: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.0%}" if pct else f"{x:.2f}"


def summary_table(summary: dict[str, Any]) -> Any:
    """A rich table: per dimension and judge, A's win/tie/loss shares, missing, the
    first-shown share (position bias) and self-agreement kappa."""
    from rich.table import Table

    a, b = summary["systems"]["a"], summary["systems"]["b"]
    table = Table(
        title=f"Pairwise judgments: A = {a} vs B = {b}",
        caption="A, tie, B: shares of usable answers; miss: missing; 1st: share the response "
        "shown first won (50% = no position bias); self κ: Cohen's kappa of runs 1 and 2",
    )
    for col in ("dimension", "judge", "A", "tie", "B", "n", "miss", "1st", "self κ"):
        table.add_column(col, justify="left" if col in ("dimension", "judge") else "right")
    for d in summary["dimensions"]:
        for judge in summary["judges"]:
            wtl = summary["win_tie_loss"][judge][d]
            n = wtl["win"] + wtl["tie"] + wtl["loss"]
            share = [wtl[k] / n if n else None for k in ("win", "tie", "loss")]
            bias = summary["position_bias"][judge][d]["first_share"]
            selfk: dict[str, Any] = summary["self_agreement"].get(judge, {}).get(d, {})
            kappa = next(iter(selfk.values()))["kappa"] if selfk else None
            table.add_row(
                d, judge, *(_fmt(s, pct=True) for s in share), str(n), str(wtl["missing"]),
                _fmt(bias, pct=True), _fmt(kappa),
            )  # fmt: skip
    return table


def ratings_table(summary: dict[str, Any]) -> Any:
    """A rich table: per dimension and judge, the mean rating, its spread and missing."""
    from rich.table import Table

    table = Table(title=f"Dataset ratings (1-5), {summary['dialogues']} dialogues")
    for col in ("dimension", "judge", "mean", "sd", "n", "missing", "1..5"):
        table.add_column(col, justify="left" if col in ("dimension", "judge") else "right")
    for d in summary["dimensions"]:
        for judge in summary["judges"]:
            s = summary["ratings"][judge][d]
            table.add_row(
                d, judge, _fmt(s["mean"]), _fmt(s["sd"]), str(s["n"]), str(s["missing"]),
                " ".join(str(s["counts"][str(k)]) for k in range(1, 6)),
            )  # fmt: skip
    return table


def plot_win_tie_loss(summary: dict[str, Any], path: Path) -> Path:
    """Stacked horizontal bars: A's win, tie and loss shares per dimension, one panel per
    judge (missing answers left out of the shares)."""
    from sweetiechat.metrics.plots import _plt, _save

    plt = _plt()
    judges, dims = summary["judges"], summary["dimensions"]
    fig, axes = plt.subplots(
        1, len(judges), figsize=(5.5 * len(judges), 0.5 * len(dims) + 1.6), squeeze=False
    )
    colors = {"win": "#4c9f70", "tie": "#b8b8b8", "loss": "#d1603d"}
    a, b = summary["systems"]["a"], summary["systems"]["b"]
    names = {"win": f"A wins ({a})", "tie": "tie", "loss": f"B wins ({b})"}
    for ax, judge in zip(axes[0], judges, strict=True):
        left = [0.0] * len(dims)
        for key in ("win", "tie", "loss"):
            shares = []
            for d in dims:
                w = summary["win_tie_loss"][judge][d]
                n = w["win"] + w["tie"] + w["loss"]
                shares.append(w[key] / n if n else 0.0)
            ax.barh(dims, shares, left=left, color=colors[key], label=names[key])
            for y, (x0, s) in enumerate(zip(left, shares, strict=True)):
                if s >= 0.06:
                    ax.text(x0 + s / 2, y, f"{s:.0%}", ha="center", va="center", fontsize=8)
            left = [x + s for x, s in zip(left, shares, strict=True)]
        ax.set_xlim(0, 1)
        ax.invert_yaxis()
        ax.set_title(f"judge: {judge}", fontsize=10)
        ax.set_xlabel("share of usable answers")
    axes[0][0].legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=3, fontsize=8)
    return _save(fig, path)


def plot_ratings(summary: dict[str, Any], path: Path) -> Path:
    """Stacked horizontal bars: the share of each rating 1-5 per dimension, one panel per
    judge, with the mean written at the end of each bar."""
    from sweetiechat.metrics.plots import _plt, _save

    plt = _plt()
    judges, dims = summary["judges"], summary["dimensions"]
    fig, axes = plt.subplots(
        1, len(judges), figsize=(5.5 * len(judges), 0.5 * len(dims) + 1.6), squeeze=False
    )
    cmap = plt.get_cmap("RdYlGn")
    for ax, judge in zip(axes[0], judges, strict=True):
        per = summary["ratings"][judge]
        left = [0.0] * len(dims)
        for k in range(1, 6):
            shares = [per[d]["counts"][str(k)] / per[d]["n"] if per[d]["n"] else 0.0 for d in dims]
            ax.barh(dims, shares, left=left, color=cmap((k - 1) / 4), label=str(k))
            left = [x + s for x, s in zip(left, shares, strict=True)]
        for y, d in enumerate(dims):
            ax.text(1.01, y, f"mean {_fmt(per[d]['mean'])}", va="center", fontsize=8)
        ax.set_xlim(0, 1.2)
        ax.invert_yaxis()
        ax.set_title(f"judge: {judge}", fontsize=10)
        ax.set_xlabel("share of ratings")
    axes[0][0].legend(
        title="rating", loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=5, fontsize=8
    )
    return _save(fig, path)
