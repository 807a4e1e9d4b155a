"""The trained layer of the risk detector: a logistic-regression head on frozen MiniLM embeddings.

The head maps one sentence embedding (all-MiniLM-L6-v2, mean-pooled, unit length) to the five
categories with ``softmax(W x + b)``. It is trained by ``benchmarks/safety_head.py`` on
messages written for it (``benchmarks/data/crisis_train.jsonl``), the prototype sentences of
:mod:`sweetiechat.quality.prototypes`, and ordinary ESConv seeker sentences as negatives
(``train`` split; the evaluation sets are never used). It ships as plain JSON
(``sweetiechat/data/crisis_head.json``: weights, bias, categories, threshold and how it was
trained), read with numpy only, so inference needs no scikit-learn and no pickle.

>>> import numpy as np
>>> head = RiskHead(np.zeros((5, 2)), np.array([0.0, 0, 0, 0, 2]), threshold=0.5)
>>> [round(float(p), 3) for p in head.probabilities(np.array([[1.0, 0.0]]))[0]]
[0.088, 0.088, 0.088, 0.088, 0.649]
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from sweetiechat.errors import ConfigError

__all__ = ["DEFAULT_HEAD", "RiskHead", "load_head", "shipped_head_exists"]

#: The shipped head's file name in ``sweetiechat/data``.
DEFAULT_HEAD = "crisis_head.json"
_CATEGORIES = ("suicidal_ideation", "self_harm", "harm_from_others", "means_request", "none")


class RiskHead:
    """A linear softmax classifier over sentence embeddings.

    Args:
        weights: (categories, dim) matrix.
        bias: (categories,) vector.
        categories: the class order; ``none`` last.
        threshold: a sentence is risky when ``1 - P(none)`` reaches this.
        gates: whether its verdicts must pass the detector's lexical gates (a danger word for
            ``harm_from_others``, a topic word for ``suicidal_ideation`` and ``self_harm``),
            as the prototypes' verdicts do.
        info: how the head was trained (free-form, kept in the file).
    """

    def __init__(
        self,
        weights: np.ndarray,
        bias: np.ndarray,
        *,
        categories: Sequence[str] = _CATEGORIES,
        threshold: float = 0.5,
        gates: bool = False,
        info: Mapping[str, Any] | None = None,
    ) -> None:
        self.weights = np.asarray(weights, dtype=np.float32)
        self.bias = np.asarray(bias, dtype=np.float32)
        self.categories = tuple(categories)
        self.threshold = float(threshold)
        self.gates = bool(gates)
        self.info = dict(info or {})
        if self.weights.shape[0] != len(self.categories) or self.bias.shape != (
            len(self.categories),
        ):
            raise ConfigError(
                f"risk head: weights {self.weights.shape} and bias {self.bias.shape} do not "
                f"match {len(self.categories)} categories"
            )
        if self.categories[-1] != "none":
            raise ConfigError("risk head: the last category must be 'none'")

    @property
    def dim(self) -> int:
        """The embedding size the head expects."""
        return int(self.weights.shape[1])

    def probabilities(self, vecs: np.ndarray) -> np.ndarray:
        """(n, categories) probabilities for (n, dim) embeddings."""
        if vecs.size == 0:
            return np.zeros((0, len(self.categories)), dtype=np.float32)
        logits = vecs.astype(np.float32) @ self.weights.T + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    def to_json(self) -> dict[str, Any]:
        """The file's content."""
        return {
            "format": "sweetiechat-risk-head/1",
            "categories": list(self.categories),
            "threshold": self.threshold,
            "gates": self.gates,
            "info": self.info,
            "bias": [round(float(v), 6) for v in self.bias],
            "weights": [[round(float(v), 6) for v in row] for row in self.weights],
        }

    def save(self, path: str | Path) -> None:
        """Write the head as JSON (atomically)."""
        target = Path(path)
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), separators=(",", ":")) + "\n")
        tmp.replace(target)


def shipped_head_exists() -> bool:
    """True when the package ships a trained head."""
    return (resources.files("sweetiechat") / "data" / DEFAULT_HEAD).is_file()


def load_head(path: str | Path | None = None) -> RiskHead:
    """Read a head file; ``None`` reads the shipped one.

    Raises:
        ConfigError: naming the file, when it is missing, not JSON, or of the wrong shape.
    """
    if path is None:
        source = resources.files("sweetiechat") / "data" / DEFAULT_HEAD
        name = f"sweetiechat/data/{DEFAULT_HEAD}"
    else:
        source = Path(path)
        name = str(path)
    try:
        raw = json.loads(source.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"{name}: no such risk head file") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{name}: line {exc.lineno}: not valid JSON ({exc.msg})") from exc
    try:
        return RiskHead(
            np.array(raw["weights"], dtype=np.float32),
            np.array(raw["bias"], dtype=np.float32),
            categories=raw.get("categories", _CATEGORIES),
            threshold=raw.get("threshold", 0.5),
            gates=raw.get("gates", False),
            info=raw.get("info"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{name}: not a risk head file ({exc})") from exc
