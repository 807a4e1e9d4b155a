"""Training and scoring the role detector (:mod:`sweetiechat.quality.roles`) on ESConv, and
reading the slide set (seeker turns that slide into the supporter role).

Every ESConv utterance is an example: the supporter's are positives, the seeker's negatives.
The threshold is the lowest that flags at most ``max_seeker_rate`` of the valid split's seeker
utterances.

>>> items = load_slides(SLIDES_FILE)            # doctest: +SKIP
>>> sum(flag for _, _, flag in items)           # doctest: +SKIP
44
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sweetiechat.errors import UserError
from sweetiechat.io import DataError, read_dialogues
from sweetiechat.quality.recognizer_train import progress_bar
from sweetiechat.quality.roles import (
    ROLE_FILE,
    ROLE_HEAD,
    RoleDetector,
    RoleFeatures,
    RoleInfo,
    check_threshold,
    role_features,
)
from sweetiechat.types import Dialogue, Turn

__all__ = [
    "SLIDES_FILE",
    "detection_scores",
    "evaluate_role_detector",
    "load_slides",
    "train_role_detector",
]

#: The shipped set of seeker turns that slide into the supporter role, and of hard ones that
#: do not (``"slides": false``), each with the supporter turn before it.
SLIDES_FILE = Path(__file__).parent / "data" / "role_slides.jsonl"

Labelled = tuple[Dialogue, int, bool]


def load_slides(path: str | Path = SLIDES_FILE) -> list[Labelled]:
    """Read a slide set: one JSON object per line with ``problem_type``, ``context`` (a list
    of ``{"role", "text"}``), ``text`` (the seeker turn) and ``slides`` (true or false).

    Returns:
        ``(dialogue, index of the seeker turn, slides)`` triples.

    Raises:
        DataError: a missing file or a bad line (named with its number).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, "no such slide-set file")
    out: list[Labelled] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            turns = [Turn(role=t["role"], text=t["text"]) for t in row["context"]]
            turns.append(Turn(role="seeker", text=row["text"]))
            dialogue = Dialogue(
                id=str(row.get("id", number)), problem_type=row["problem_type"], turns=turns
            )
            out.append((dialogue, len(turns) - 1, bool(row["slides"])))
        except (ValueError, KeyError, TypeError) as err:
            raise DataError(path, number, f"bad slide-set line ({err})"[:300]) from None
    return out


def _utterances(dialogues: Iterable[Dialogue]) -> list[Labelled]:
    """Every utterance as ``(dialogue, index, is_supporter)``."""
    return [(d, i, t.role == "supporter") for d in dialogues for i, t in enumerate(d.turns)]


def detection_scores(
    scores: Sequence[float], gold: Sequence[bool], threshold: float
) -> dict[str, Any]:
    """Precision, recall, F1 and counts of ``score >= threshold`` against ``gold``."""
    pred = [s >= threshold for s in scores]
    tp = sum(p and g for p, g in zip(pred, gold, strict=True))
    fp = sum(p and not g for p, g in zip(pred, gold, strict=True))
    fn = sum(g and not p for p, g in zip(pred, gold, strict=True))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    negatives = sum(not g for g in gold)
    return {
        "n": len(gold),
        "positives": sum(gold),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "false_positive_rate": round(fp / negatives, 4) if negatives else 0.0,
    }


def _raw_scores(
    detector_head: Any, encoder: Any, items: Sequence[Labelled], kind: str
) -> np.ndarray:
    pairs = [(d, i) for d, i, _ in items]
    return detector_head.probabilities(role_features(encoder, pairs, kind))[:, 1]


def evaluate_role_detector(
    detector: RoleDetector, items: Sequence[Labelled], *, seeker_only: bool = False
) -> dict[str, Any]:
    """Precision and recall of ``detector`` on labelled utterances at its threshold.

    Args:
        detector: the detector.
        items: ``(dialogue, index, positive)`` triples.
        seeker_only: the items are all seeker turns (the slide set); otherwise supporter
            utterances are scored too, as the positives (held-out ESConv).
    """
    if seeker_only:
        scores = detector.scores([(d, i) for d, i, _ in items])
    else:
        detector._load()
        scores = _raw_scores(
            detector._head, detector._encoder, items, detector.info.features
        ).tolist()
    return detection_scores(scores, [g for _, _, g in items], detector.threshold)


def train_role_detector(
    data_dir: str | Path,
    out_dir: str | Path,
    *,
    features: RoleFeatures = "utterance",
    base_model: str | None = None,
    limit: int | None = None,
    c: float = 1.0,
    max_seeker_rate: float = 0.05,
    slides: str | Path | None = SLIDES_FILE,
    encoder: Any = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train a role detector on ESConv and write its folder (``role.json`` + ``role_head.npz``).

    Args:
        data_dir: a folder with ``train``, ``valid`` and ``test`` (ESConv's layout).
        out_dir: the folder to write (must not hold a detector yet).
        features: ``utterance`` or ``context`` (the utterance and the turn before it).
        base_model: the encoder folder; default: the MiniLM package's.
        limit: only the first N dialogues of each split.
        c: inverse L2 strength of the logistic regression.
        max_seeker_rate: the threshold flags at most this share of valid seeker turns.
        slides: a slide set to score too (None: skip).
        encoder: a :class:`~sweetiechat.quality.embedding.MiniLM` to reuse (its cache).
        progress: show rich progress bars.

    Returns:
        The metrics stored in ``role.json``: ``train``, ``valid``, ``test`` and ``slides``.

    Raises:
        UserError: a missing split, an out-of-range rate, or an output folder that holds a
            detector already.
    """
    from sweetiechat.quality.embedding import MiniLM
    from sweetiechat.quality.heads import fit_head
    from sweetiechat.trainer.dataset import split_path

    check_threshold(max_seeker_rate, "max_seeker_rate")
    data, out = Path(data_dir), Path(out_dir)
    if (out / ROLE_FILE).exists():
        raise UserError(f"{out} already holds a role detector; choose another --out")
    splits = {}
    for name in ("train", "valid", "test"):
        dialogues = list(read_dialogues(split_path(data, name)))
        splits[name] = _utterances(dialogues[:limit] if limit else dialogues)
    started, cpu = time.perf_counter(), time.process_time()
    encoder = encoder or MiniLM(base_model)
    texts = sorted({d.turns[i].text for items in splits.values() for d, i, _ in items})
    with progress_bar("embedding ESConv utterances", len(texts), progress) as advance:
        encoder.embed(texts, advance=advance)
    x = role_features(encoder, [(d, i) for d, i, _ in splits["train"]], features)
    y = ["supporter" if g else "seeker" for _, _, g in splits["train"]]
    head = fit_head(x, y, classes=["seeker", "supporter"], c=c, balanced=True)
    valid = splits["valid"]
    seeker_scores = np.sort(_raw_scores(head, encoder, [t for t in valid if not t[2]], features))
    k = int(np.ceil(len(seeker_scores) * (1 - max_seeker_rate)))
    threshold = float(seeker_scores[min(k, len(seeker_scores) - 1)]) if len(seeker_scores) else 0.5
    threshold = min(max(threshold, 0.05), 0.99)
    metrics: dict[str, Any] = {
        "train": {
            "utterances": len(y),
            "features": features,
            "c": c,
            "max_seeker_rate": max_seeker_rate,
            "seconds": round(time.perf_counter() - started, 1),
            "cpu_seconds": round(time.process_time() - cpu, 1),
        }
    }
    for name in ("valid", "test"):
        scores = _raw_scores(head, encoder, splits[name], features).tolist()
        metrics[name] = detection_scores(scores, [g for _, _, g in splits[name]], threshold)
    if slides is not None:
        items = load_slides(slides)
        scores = _raw_scores(head, encoder, items, features).tolist()
        metrics["slides"] = detection_scores(scores, [g for _, _, g in items], threshold)
    out.mkdir(parents=True, exist_ok=True)
    head.save(out / ROLE_HEAD)
    info = RoleInfo(
        features=features, base_model=base_model or "minilm", threshold=round(threshold, 4),
        metrics=metrics,
    )  # fmt: skip
    from sweetiechat.trainer.common import write_json

    write_json(out / ROLE_FILE, info.model_dump(mode="json"))
    return metrics
