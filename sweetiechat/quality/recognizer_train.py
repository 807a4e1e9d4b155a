"""Training and scoring the strategy recognizer (:mod:`sweetiechat.quality.recognizer`).

``finetuned`` reuses the classifier counselor's trainer
(:func:`sweetiechat.trainer.classifier.train_classifier`) on examples whose input ends with
the response (:func:`recognition_examples`); ``frozen`` fits a logistic-regression head
over frozen MiniLM embeddings, in minutes on a CPU.

>>> result = train_recognizer("esconv/", "runs/rec", kind="frozen")   # doctest: +SKIP
>>> result["test"]["macro_f1"]                                        # doctest: +SKIP
0.5
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sweetiechat.errors import UserError
from sweetiechat.io import read_dialogues
from sweetiechat.quality.recognizer import (
    HEAD_FILE,
    RECOGNIZER_FILE,
    RecognizerInfo,
    StrategyRecognizer,
    frozen_features,
    response_context,
)
from sweetiechat.taxonomy import Strategy
from sweetiechat.types import Dialogue

__all__ = [
    "evaluate_recognizer",
    "progress_bar",
    "recognition_examples",
    "supporter_items",
    "train_recognizer",
]

RecognizerKind = Literal["finetuned", "frozen"]


@contextmanager
def progress_bar(description: str, total: int, enabled: bool = True) -> Any:
    """A rich progress bar on stderr; yields ``advance(n)``."""
    if not enabled:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


def supporter_items(dialogues: Iterable[Dialogue]) -> list[tuple[Dialogue, int]]:
    """``(dialogue, index)`` of every supporter turn that has a strategy."""
    return [
        (d, i)
        for d in dialogues
        for i, t in enumerate(d.turns)
        if t.role == "supporter" and t.strategy is not None
    ]


def recognition_examples(dialogues: Iterable[Dialogue]) -> list[Any]:
    """One counselor-style :class:`~sweetiechat.trainer.dataset.StrategyExample` per
    annotated supporter turn, whose context ends with that (unlabelled) response."""
    from sweetiechat.trainer.dataset import StrategyExample

    out = []
    for d, i in supporter_items(dialogues):
        gold = d.turns[i].strategy
        assert gold is not None
        out.append(StrategyExample(d.id, i, response_context(d, i), gold))
    return out


def _split(data_dir: Path, name: str, limit: int | None) -> list[Dialogue]:
    from sweetiechat.trainer.dataset import split_path

    dialogues = list(read_dialogues(split_path(data_dir, name)))
    return dialogues[:limit] if limit else dialogues


def evaluate_recognizer(
    recognizer: StrategyRecognizer,
    dialogues: Sequence[Dialogue],
    *,
    batch: int = 256,
    progress: bool = True,
) -> dict[str, Any]:
    """Accuracy, macro-F1, weighted-F1 and per-strategy F1 on the annotated supporter turns.

    Raises:
        UserError: no supporter turn has a strategy.
    """
    from sweetiechat.trainer.common import classification_scores

    items = supporter_items(dialogues)
    if not items:
        raise UserError("no supporter turn with a strategy to score the recognizer on")
    index = {s: k for k, s in enumerate(Strategy)}
    pred: list[int] = []
    start = time.perf_counter()
    with progress_bar("recognizing strategies", len(items), progress) as advance:
        for k in range(0, len(items), batch):
            chunk = items[k : k + batch]
            pred += [index[s] for s, _ in recognizer.predict(chunk)]
            advance(len(chunk))
    gold = [index[d.turns[i].strategy] for d, i in items]  # type: ignore[index]
    scores: dict[str, Any] = {"n": len(items), **classification_scores(gold, pred)}
    per = {}
    for s, k in index.items():
        tp = sum(g == p == k for g, p in zip(gold, pred, strict=True))
        fp = sum(p == k != g for g, p in zip(gold, pred, strict=True))
        fn = sum(g == k != p for g, p in zip(gold, pred, strict=True))
        per[s.value] = round(2 * tp / (2 * tp + fp + fn), 4) if tp else 0.0
    scores["f1_per_strategy"] = per
    scores["seconds"] = round(time.perf_counter() - start, 2)
    return scores


def _train_frozen(
    train: list[Dialogue],
    valid: list[Dialogue],
    out: Path,
    *,
    base_model: str | None,
    progress: bool,
    c_grid: Sequence[float],
) -> dict[str, Any]:
    from sweetiechat.quality.embedding import MiniLM
    from sweetiechat.quality.heads import fit_head
    from sweetiechat.trainer.common import classification_scores

    encoder = MiniLM(base_model)
    labels = [s.value for s in Strategy]

    def feats(dialogues: list[Dialogue], what: str) -> tuple[np.ndarray, list[str]]:
        items = supporter_items(dialogues)
        texts = {d.turns[i].text for d, i in items}
        with progress_bar(f"embedding {what}", len(texts), progress) as advance:
            encoder.embed(sorted(texts), advance=advance)
        return frozen_features(encoder, items), [d.turns[i].strategy.value for d, i in items]  # type: ignore[union-attr]

    x_train, y_train = feats(train, "train responses")
    x_valid, y_valid = feats(valid, "valid responses") if valid else (x_train[:0], [])
    best: tuple[float, float, Any] = (-1.0, 0.0, None)
    for c in c_grid:
        head = fit_head(x_train, y_train, classes=labels, c=c)
        if not y_valid or len(c_grid) == 1:
            best = (0.0, c, head)
            break
        pred = head.probabilities(x_valid).argmax(1).tolist()
        f1 = classification_scores([labels.index(y) for y in y_valid], pred)["macro_f1"]
        if f1 > best[0]:
            best = (f1, c, head)
    head = best[2]
    head.save(out / HEAD_FILE)
    return {"c": best[1], "valid_macro_f1_at_c": round(best[0], 4), "examples": len(y_train)}


def _train_finetuned(
    data_dir: Path,
    train: list[Dialogue],
    out: Path,
    *,
    base_model: str | None,
    max_length: int,
    window: int,
    epochs: float,
    max_steps: int,
    batch_size: int,
    learning_rate: float,
    progress: bool,
) -> tuple[dict[str, Any], dict[str, Any], str]:
    from sweetiechat.agents.classifier import ClassifierInput
    from sweetiechat.agents.trained import CounselorFolder, base_fingerprint, resolve_base
    from sweetiechat.trainer.classifier import default_classifier_base, train_classifier
    from sweetiechat.trainer.common import LABELS, prepare_out_dir, require_train
    from sweetiechat.trainer.config import CounselorTrainConfig

    require_train()
    base = base_model or default_classifier_base()
    fmt = ClassifierInput(
        window=window, problem_type=False, emotion=False, strategies=False,
        newest_first=True, max_length=max_length,
    )  # fmt: skip
    config = CounselorTrainConfig(
        kind="classifier", data_dir=str(data_dir), out_dir=str(out), base_model=base,
        learning_rate=learning_rate, batch_size=batch_size, eval_batch_size=32,
        epochs=epochs, max_steps=max_steps, patience=0, final_eval=False, input=fmt,
        eval_steps=10**9, logging_steps=50, save_total_limit=1,
    )  # fmt: skip
    info = CounselorFolder(
        kind="classifier", base_model=base, base_fingerprint=base_fingerprint(base),
        labels=[s.value for s in LABELS], input=fmt.model_dump(),
    )  # fmt: skip
    prepare_out_dir(config, info, resume=False)
    stats = train_classifier(
        config, recognition_examples(train), [], base_path=resolve_base(base),
        weights=None, resume_from=None, progress=progress,
    )  # fmt: skip
    from sweetiechat.trainer.common import write_json

    done = info.model_copy(update={"trained_steps": stats["steps"]})
    write_json(out / "counselor.json", done.model_dump(mode="json"))
    summary = {
        "steps": stats["steps"],
        "seconds_per_step": (
            round(stats["step_wall_seconds"] / stats["timed_steps"], 3)
            if stats["timed_steps"]
            else None
        ),
        "examples": len(supporter_items(train)),
        "max_length": max_length,
        "window": window,
        "batch_size": batch_size,
    }
    return summary, fmt.model_dump(), base


def train_recognizer(
    data_dir: str | Path,
    out_dir: str | Path,
    *,
    kind: RecognizerKind = "frozen",
    base_model: str | None = None,
    limit: int | None = None,
    max_length: int = 160,
    window: int = 3,
    epochs: float = 1.0,
    max_steps: int = -1,
    batch_size: int = 16,
    learning_rate: float = 5e-5,
    c_grid: Sequence[float] = (0.3, 1.0, 3.0),
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train a recognizer on ``data_dir``'s train split, score it on valid and test, and
    write its folder.

    Args:
        data_dir: a folder with ``train``, ``valid`` and ``test`` (ESConv's layout).
        out_dir: the recognizer folder to write (must not hold a recognizer yet).
        kind: ``"frozen"`` (MiniLM + logistic regression) or ``"finetuned"``.
        base_model: the encoder folder; default: the MiniLM package's.
        limit: only the first N dialogues of each split (for quick tries).
        max_length, window, epochs, max_steps, batch_size, learning_rate: finetuned's
            input length, utterances shown (the response and those before it) and recipe.
        c_grid: frozen: inverse regularisation strengths tried, picked on valid macro-F1.
        progress: show rich progress bars.
        log: called with a line per stage.

    Returns:
        What ``recognizer.json``'s ``metrics`` holds: ``train``, ``valid``, ``test``.

    Raises:
        UserError: a missing data folder or split, or an output folder that holds a
            recognizer already.
    """
    data, out = Path(data_dir), Path(out_dir)
    if (out / RECOGNIZER_FILE).exists():
        raise UserError(f"{out} already holds a recognizer; choose another --out")
    say = log or (lambda line: None)
    train = _split(data, "train", limit)
    valid = _split(data, "valid", limit)
    test = _split(data, "test", limit)
    if not supporter_items(train):
        raise UserError(f"{data}: the train split has no supporter turn with a strategy")
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    cpu = time.process_time()
    if kind == "frozen":
        summary = _train_frozen(
            train, valid, out, base_model=base_model, progress=progress, c_grid=c_grid
        )
        info = RecognizerInfo(kind="frozen", base_model=base_model or "minilm")
    else:
        summary, fmt, base = _train_finetuned(
            data, train, out, base_model=base_model, max_length=max_length, window=window,
            epochs=epochs, max_steps=max_steps, batch_size=batch_size,
            learning_rate=learning_rate, progress=progress,
        )  # fmt: skip
        info = RecognizerInfo(kind="finetuned", base_model=base, input=fmt)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    summary["cpu_seconds"] = round(time.process_time() - cpu, 1)
    say(f"trained in {summary['seconds']} s")
    _write_info(out, info)
    recognizer = StrategyRecognizer.load(out)
    metrics: dict[str, Any] = {"kind": kind, "train": summary}
    for name, split in (("valid", valid), ("test", test)):
        if supporter_items(split):
            metrics[name] = evaluate_recognizer(recognizer, split, progress=progress)
            m = metrics[name]
            say(f"{name}: accuracy {m['accuracy']:.3f}, macro-F1 {m['macro_f1']:.3f}")
    _write_info(out, info.model_copy(update={"metrics": metrics}))
    return metrics


def _write_info(out: Path, info: RecognizerInfo) -> None:
    from sweetiechat.trainer.common import write_json

    write_json(out / RECOGNIZER_FILE, info.model_dump(mode="json"))
