"""What both counselor kinds share: the output folder, resume checks, seeds, class weights,
a rich progress display, training-time metrics and the final evaluation.

Output folder layout (see docs/training.md)::

    OUT/
      counselor.json         kind, base model + fingerprint, label map, input settings
      training_config.json   every setting of the run (CounselorTrainConfig)
      label_map.json         {"0": "Question", ...}
      metrics.json           training speed, best checkpoint, valid/test scores
      adapter_config.json, adapter_model.safetensors      (lm: a standard peft adapter)
      config.json, model.safetensors, tokenizer files     (classifier)
      checkpoints/checkpoint-N/                            (for --resume)
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sweetiechat.agents.trained import COUNSELOR_FILE, CounselorFolder, read_counselor_folder
from sweetiechat.errors import ConfigError, UserError
from sweetiechat.taxonomy import Strategy
from sweetiechat.trainer.config import CounselorTrainConfig
from sweetiechat.trainer.dataset import StrategyExample

__all__ = [
    "CHECKPOINTS",
    "LABELS",
    "check_out_dir",
    "class_weights",
    "classification_scores",
    "last_checkpoint",
    "prepare_out_dir",
    "progress_callback",
    "write_json",
]

#: The label map: class index -> strategy, in ESConv's id order.
LABELS: tuple[Strategy, ...] = tuple(Strategy)
CHECKPOINTS = "checkpoints"


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temp file + rename)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def last_checkpoint(out_dir: Path) -> Path | None:
    """The newest ``checkpoints/checkpoint-N`` folder, or ``None``."""
    folder = out_dir / CHECKPOINTS
    found = [p for p in folder.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    return max(found, key=lambda p: int(p.name.split("-")[-1])) if found else None


def check_out_dir(out: Path, marker: str, what: str, resume: bool) -> bool:
    """Check an output folder before a run; True when it holds a run to resume.

    Raises:
        UserError: a fresh run into a folder whose ``marker`` file says it holds ``what``,
            or a resumed run into a non-empty folder without one.
    """
    if (out / marker).is_file():
        if not resume:
            raise UserError(
                f"{out} already holds {what}; pass --resume to continue it, or choose another --out"
            )
        return True
    if resume and out.exists() and any(out.iterdir()):
        raise UserError(f"{out}: nothing to resume (no {marker}); drop --resume")
    return False


def prepare_out_dir(config: CounselorTrainConfig, info: CounselorFolder, resume: bool) -> None:
    """Create the output folder, or check that a resumed one holds the same run.

    Raises:
        UserError: a fresh run into a folder that already holds a counselor, or a resumed
            run whose folder holds another kind or base model.
    """
    out = Path(config.out_dir)
    if check_out_dir(out, COUNSELOR_FILE, "a trained counselor", resume):
        old = read_counselor_folder(out)
        if old.kind != info.kind:
            raise UserError(f"{out} holds a {old.kind} counselor; resume it with --kind {old.kind}")
        if old.base_fingerprint != info.base_fingerprint:
            raise UserError(
                f"{out} was trained from base model {old.base_model}, not {info.base_model}; "
                f"resume with --base-model {old.base_model}"
            )
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / COUNSELOR_FILE, info.model_dump(mode="json"))
    write_json(out / "training_config.json", config.model_dump(mode="json"))
    write_json(out / "label_map.json", {str(i): s.value for i, s in enumerate(LABELS)})


def warmup_steps(config: CounselorTrainConfig, n_train: int) -> int:
    """The warm-up in steps: ``warmup_ratio`` of the run's total steps, rounded up.

    >>> c = CounselorTrainConfig(kind="lm", data_dir="d", out_dir="o")
    >>> warmup_steps(c, 14_000)   # 5 epochs of 7,000 steps: 1% is 350
    350
    """
    if config.max_steps > 0:
        total = config.max_steps
    else:
        total = math.ceil(config.epochs * math.ceil(n_train / config.batch_size))
    return math.ceil(config.warmup_ratio * total)


def class_weights(examples: Sequence[StrategyExample], mode: str) -> list[float] | None:
    """One loss weight per class (in :data:`LABELS` order), or ``None`` for ``"none"``.

    ``"balanced"`` is ``n / (8 * n_c)`` (as scikit-learn's), ``"sqrt"`` its square root;
    a strategy absent from the data gets weight 1.

    >>> class_weights([], "none") is None
    True
    """
    if mode == "none":
        return None
    counts = Counter(e.gold for e in examples)
    n = len(examples)
    weights = []
    for s in LABELS:
        w = n / (len(LABELS) * counts[s]) if counts[s] else 1.0
        weights.append(math.sqrt(w) if mode == "sqrt" else w)
    return weights


def classification_scores(gold: Sequence[int], pred: Sequence[int]) -> dict[str, float]:
    """Accuracy, macro-F1 and weighted-F1 (fractions) of class indices.

    Macro-F1 averages the classes that occur in gold or predictions.

    >>> classification_scores([0, 0, 1], [0, 1, 1])["accuracy"]
    0.6666666666666666
    """
    n = len(gold)
    if not n:
        return {"accuracy": 0.0, "macro_f1": 0.0, "weighted_f1": 0.0}
    classes = sorted(set(gold) | set(pred))
    f1s, support = {}, Counter(gold)
    for c in classes:
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if g == p == c)
        fp = sum(1 for g, p in zip(gold, pred, strict=True) if p == c != g)
        fn = sum(1 for g, p in zip(gold, pred, strict=True) if g == c != p)
        f1s[c] = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return {
        "accuracy": sum(g == p for g, p in zip(gold, pred, strict=True)) / n,
        "macro_f1": sum(f1s.values()) / len(f1s),
        "weighted_f1": sum(f1s[c] * support[c] for c in classes) / n,
    }


def progress_callback(description: str) -> Any:
    """A ``transformers`` callback that shows training as a rich progress bar on stderr,
    with the latest training loss and validation scores."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from transformers import TrainerCallback

    class RichProgress(TrainerCallback):
        def __init__(self) -> None:
            self.progress: Progress | None = None
            self.task: Any = None
            self.status = ""
            self.started = 0.0
            self.first_step = 0

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if not state.is_world_process_zero:
                return
            self.progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[status]}"),
                console=Console(stderr=True),
            )
            self.progress.start()
            self.task = self.progress.add_task(
                description, total=state.max_steps, completed=state.global_step, status=""
            )

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if self.progress is not None:
                self.progress.update(self.task, completed=state.global_step)

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if self.progress is None or not logs:
                return
            parts = dict(p.split("=", 1) for p in self.status.split("  ") if "=" in p)
            for key in ("loss", "eval_loss", "eval_macro_f1", "eval_accuracy"):
                if key in logs:
                    parts[key] = f"{logs[key]:.4f}"
            self.status = "  ".join(f"{k}={v}" for k, v in parts.items())
            self.progress.update(self.task, status=self.status)

        def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if self.progress is not None:
                self.progress.update(self.task, completed=state.global_step)
                self.progress.stop()
                self.progress = None

    return RichProgress()


def step_timer() -> Any:
    """A ``transformers`` callback that adds up the wall and CPU seconds spent inside
    optimisation steps (evaluation and saving excluded): ``.wall``, ``.cpu``, ``.steps``."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.wall = self.cpu = 0.0
            self.steps = 0
            self._start = (0.0, 0.0)

        def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self._start = (time.perf_counter(), time.process_time())

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.wall += time.perf_counter() - self._start[0]
            self.cpu += time.process_time() - self._start[1]
            self.steps += 1

    return StepTimer()


def quiet_trainer(trainer: Any) -> None:
    """Drop the callback that prints every log dict (the rich display shows them)."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)


def require_train() -> None:
    """Raise :class:`ConfigError` naming the install command when the training stack is
    missing."""
    import importlib.util

    missing = [
        m
        for m in ("torch", "transformers", "peft", "trl", "datasets", "accelerate")
        if importlib.util.find_spec(m) is None
    ]
    if missing:
        raise ConfigError(
            f"training needs {', '.join(missing)}: pip install 'sweetiechat[train]' "
            "(torch first, see the README)"
        )


def quiet_datasets() -> None:
    """Hide the ``datasets`` progress bars and the training stack's deprecation chatter."""
    import warnings

    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers\..*")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\..*")


class Timer:
    """Wall-clock seconds of the optimisation steps taken in this process."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        """Seconds since the timer started."""
        return time.perf_counter() - self.start
