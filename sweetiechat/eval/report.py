"""Rich tables of counselor metrics: one counselor in detail, or several side by side.

>>> import io
>>> from rich.console import Console
>>> from sweetiechat.eval.metrics import score_predictions
>>> from sweetiechat.taxonomy import Strategy as S
>>> m = score_predictions([S.QUESTION, S.OTHERS], [S.QUESTION, S.OTHERS], counselor="demo")
>>> console = Console(file=io.StringIO(), width=100, record=True)
>>> console.print(comparison_table([m], PUBLISHED))
>>> text = console.export_text()
>>> "demo" in text and "100.00" in text and "EmoDynamiX (published)" in text
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sweetiechat.eval.metrics import CounselorMetrics
from sweetiechat.taxonomy import Strategy

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["PUBLISHED", "PublishedRow", "comparison_table", "metrics_table"]


@dataclass(frozen=True)
class PublishedRow:
    """A published strategy predictor's scores on ESConv (percent, as printed)."""

    name: str
    macro_f1: float
    weighted_f1: float
    preference_bias: float
    source: str


_SOURCE = "EmoDynamiX (Wan et al., NAACL 2025), results table"

#: Published rows, as reported in EmoDynamiX's table (Wan et al., NAACL 2025). Their split of
#: ESConv may differ from the seed-13 split used here.
PUBLISHED = (
    PublishedRow("fine-tuned Llama-3-8B", 25.91, 29.82, 0.83, _SOURCE),
    PublishedRow("EmoDynamiX", 27.70, 32.71, 0.45, _SOURCE),
    PublishedRow("prompted ChatGPT", 18.14, 20.27, 0.88, _SOURCE),
)


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def _bias(b: float | None) -> str:
    return "unbounded" if b is None else f"{b:.2f}"


def metrics_table(metrics: CounselorMetrics) -> Table:
    """One counselor: the totals in the title, then precision/recall/F1/support per strategy."""
    from rich.markup import escape
    from rich.table import Table

    rate = (
        f", {metrics.decisions_per_second:.1f} decisions/s" if metrics.decisions_per_second else ""
    )
    table = Table(
        title=(
            f"{escape(metrics.counselor)}: n={metrics.n}, accuracy {_pct(metrics.accuracy)}, "
            f"macro-F1 {_pct(metrics.macro_f1)}, weighted-F1 {_pct(metrics.weighted_f1)}, "
            f"B {_bias(metrics.preference_bias)}, fallbacks {metrics.fallbacks}{rate}"
        )
    )
    for column in ("strategy", "precision", "recall", "F1", "gold", "predicted", "strength"):
        table.add_column(column, justify="left" if column == "strategy" else "right")
    for s in Strategy:
        score = metrics.per_strategy[s]
        table.add_row(
            s.value,
            _pct(score.precision),
            _pct(score.recall),
            _pct(score.f1),
            str(score.support),
            str(score.predicted),
            "n/a" if score.strength is None else f"{score.strength:.2f}",
        )
    return table


def comparison_table(
    rows: Sequence[CounselorMetrics],
    published: Sequence[PublishedRow] = (),
    *,
    title: str = "Strategy prediction on ESConv test (percent; B: lower is better)",
) -> Table:
    """Several counselors side by side, then the published rows (marked as such)."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title)
    for column in ("counselor", "n", "accuracy", "macro-F1", "weighted-F1", "B", "decisions/s"):
        table.add_column(column, justify="left" if column == "counselor" else "right")
    for m in rows:
        table.add_row(
            escape(m.counselor),
            str(m.n),
            _pct(m.accuracy),
            _pct(m.macro_f1),
            _pct(m.weighted_f1),
            _bias(m.preference_bias),
            f"{m.decisions_per_second:.1f}" if m.decisions_per_second else "-",
        )
    for p in published:
        table.add_row(
            f"{escape(p.name)} (published)",
            "-",
            "-",
            f"{p.macro_f1:.2f}",
            f"{p.weighted_f1:.2f}",
            f"{p.preference_bias:.2f}",
            "-",
        )
    return table
