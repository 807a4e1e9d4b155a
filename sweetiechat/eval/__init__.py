"""Evaluation: the strategy counselor against gold ESConv strategies.

- :func:`~sweetiechat.eval.counselor.evaluate_counselor` runs a counselor on strategy
  examples and writes ``predictions.jsonl``, ``metrics.json`` and PNGs;
- :func:`~sweetiechat.eval.metrics.score_predictions` scores gold vs predicted strategies
  (accuracy, macro/weighted F1, per-strategy scores, preference bias B);
- :func:`~sweetiechat.eval.bias.preference_bias`: Kang et al.'s B;
- :mod:`sweetiechat.eval.report`: rich tables, one counselor or several side by side.

scikit-learn, matplotlib and rich tables are imported inside the functions that need them
(the ``metrics`` extra: ``pip install 'sweetiechat[metrics]'``).
"""

from sweetiechat.eval.bias import bradley_terry_strengths, preference_bias
from sweetiechat.eval.counselor import (
    CounselorReport,
    Prediction,
    aevaluate_counselor,
    evaluate_counselor,
    read_predictions,
)
from sweetiechat.eval.metrics import CounselorMetrics, StrategyScore, score_predictions
from sweetiechat.eval.report import PUBLISHED, comparison_table, metrics_table

__all__ = [
    "PUBLISHED",
    "CounselorMetrics",
    "CounselorReport",
    "Prediction",
    "StrategyScore",
    "aevaluate_counselor",
    "bradley_terry_strengths",
    "comparison_table",
    "evaluate_counselor",
    "metrics_table",
    "preference_bias",
    "read_predictions",
    "score_predictions",
]
