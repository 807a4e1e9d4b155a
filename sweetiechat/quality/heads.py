"""A linear head over frozen embeddings, saved without pickle (``.npz`` weights + ``.json``).

Used by the role detector (two classes) and the frozen strategy recognizer (eight). Fitting
needs scikit-learn (imported inside :func:`fit_head`); predicting needs only numpy.

>>> import numpy as np
>>> head = LinearHead(np.array([[1.0, 0.0], [-1.0, 0.0]]), np.zeros(2), ["a", "b"])
>>> head.probabilities(np.array([[2.0, 0.0]])).round(2).tolist()
[[0.98, 0.02]]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sweetiechat.errors import ConfigError

__all__ = ["LinearHead", "fit_head"]


@dataclass(frozen=True)
class LinearHead:
    """Softmax(x @ weights.T + bias) over ``labels``."""

    weights: np.ndarray
    """(classes, features)."""
    bias: np.ndarray
    """(classes,)."""
    labels: list[str]
    """The class names, in row order."""

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """(rows, classes) probabilities for (rows, features) inputs."""
        logits = features @ self.weights.T + self.bias
        logits = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def save(self, path: Path) -> None:
        """Write the weights to ``path`` (an ``.npz``), atomically."""
        tmp = path.with_name(f".{path.stem}.tmp.npz")
        np.savez_compressed(
            tmp,
            weights=self.weights.astype(np.float32),
            bias=self.bias.astype(np.float32),
            labels=np.array(self.labels, dtype=str),
        )
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path, dim: int) -> LinearHead:
        """Read a head written by :meth:`save`; ``dim`` is the expected feature size.

        Raises:
            ConfigError: a missing or unreadable file, or weights of another size.
        """
        if not path.is_file():
            raise ConfigError(f"{path}: no such file; train one with sweetiechat quality train-*")
        try:
            with np.load(path, allow_pickle=False) as data:
                weights, bias = data["weights"], data["bias"]
                labels = [str(x) for x in data["labels"]]
        except (OSError, ValueError, KeyError) as err:
            raise ConfigError(f"{path}: not a sweetiechat head file ({err})") from None
        if weights.ndim != 2 or weights.shape != (len(labels), dim) or bias.shape != (len(labels),):
            raise ConfigError(
                f"{path}: weights of shape {weights.shape} do not fit {len(labels)} labels "
                f"and {dim} features; retrain it"
            )
        return cls(weights.astype(np.float32), bias.astype(np.float32), labels)


def fit_head(
    features: np.ndarray,
    labels: Sequence[str],
    *,
    classes: Sequence[str],
    c: float = 1.0,
    balanced: bool = False,
    seed: int = 0,
) -> LinearHead:
    """Fit a (multinomial) logistic regression and return it as a :class:`LinearHead`.

    Args:
        features: (rows, features).
        labels: one class name per row.
        classes: all class names, in the head's order (a class absent from ``labels`` gets
            a very negative bias).
        c: inverse L2 strength.
        balanced: weight classes inversely to their frequency.
        seed: the solver's seed.
    """
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(
        C=c, max_iter=2000, class_weight="balanced" if balanced else None, random_state=seed
    )
    model.fit(features, list(labels))
    dim = features.shape[1]
    seen = [str(x) for x in model.classes_]
    weights = np.zeros((len(classes), dim), dtype=np.float32)
    bias = np.full(len(classes), -30.0, dtype=np.float32)
    if len(seen) == 2:  # sklearn keeps one row for two classes: logit of the second
        coef, icpt = model.coef_[0], model.intercept_[0]
        rows = {seen[0]: (-coef / 2, -icpt / 2), seen[1]: (coef / 2, icpt / 2)}
    else:
        rows = {s: (model.coef_[i], model.intercept_[i]) for i, s in enumerate(seen)}
    for i, name in enumerate(classes):
        if name in rows:
            weights[i], bias[i] = rows[name]
    return LinearHead(weights, bias, list(classes))
