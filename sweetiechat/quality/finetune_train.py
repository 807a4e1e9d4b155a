"""Training the fine-tuned layer of the risk detector (:mod:`sweetiechat.quality.finetuned`).

MiniLM (or any BERT-like encoder folder) gets LoRA adapters on its attention and feed-forward
projections and a linear head over the mean-pooled output; the adapters and the head are
trained end to end with a weighted cross-entropy over the five categories. It needs the
``train`` extra (peft) besides torch and transformers; the result needs neither peft nor a GPU.

>>> rows = [TrainRow("I want to disappear forever.", "suicidal_ideation")]   # doctest: +SKIP
>>> clf = train_finetuned(rows, epochs=3)                                    # doctest: +SKIP
>>> clf.save("crisis_finetuned.safetensors")                                 # doctest: +SKIP
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sweetiechat.errors import UserError
from sweetiechat.quality.embedding import mean_pool, torch_threads
from sweetiechat.quality.finetuned import (
    FinetunedClassifier,
    _base_path,
    encode_pairs,
    format_context,
)

__all__ = ["CATEGORIES", "TrainRow", "balance_weights", "read_rows", "train_finetuned"]

CATEGORIES = ("suicidal_ideation", "self_harm", "harm_from_others", "means_request", "none")
#: The encoder's linear layers that get adapters (BERT naming; MiniLM is a BERT), ``{layers}``
#: being the adapted layers' numbers.
TARGET_MODULES = (
    r".*encoder\.layer\.(?:{layers})\.(?:attention\.self\.(?:query|key|value)"
    r"|attention\.output\.dense|intermediate\.dense|output\.dense)"
)


@dataclass
class TrainRow:
    """One training message."""

    text: str
    category: str
    context: list[str] = field(default_factory=list)
    """The seeker's earlier messages, oldest first."""
    weight: float = 1.0
    source: str = "written"


def read_rows(path: str | Path, source: str | None = None) -> list[TrainRow]:
    """Rows of a JSON-lines file with ``text``, ``category`` and optionally ``context``.

    Raises:
        UserError: naming the file and line, for unreadable JSON, a missing text or an
            unknown category.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read it as UTF-8 text ({exc})") from exc
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
        if not isinstance(raw, dict) or not isinstance(raw.get("text"), str):
            raise UserError(f"{path}:{number}: each line needs a 'text' string")
        category = raw.get("category")
        if category not in CATEGORIES:
            raise UserError(
                f"{path}:{number}: category {category!r} is not one of {', '.join(CATEGORIES)}"
            )
        context = raw.get("context") or []
        if not isinstance(context, list) or not all(isinstance(c, str) for c in context):
            raise UserError(f"{path}:{number}: 'context' must be a list of strings")
        rows.append(TrainRow(raw["text"], category, context, 1.0, source or path.stem))
    return rows


def balance_weights(rows: Sequence[TrainRow], negative_share: float = 0.5) -> None:
    """Scale the rows' weights (in place) so that each risk category weighs the same in
    total, and all ``none`` rows together weigh ``negative_share`` of the whole (keeping the
    relative weights within a category)."""
    totals = {c: sum(r.weight for r in rows if r.category == c) for c in CATEGORIES}
    risk_cats = [c for c in CATEGORIES[:-1] if totals[c] > 0]
    target_risk = (1.0 - negative_share) * len(rows) / max(len(risk_cats), 1)
    target_none = negative_share * len(rows)
    for r in rows:
        total = totals[r.category]
        if total > 0:
            r.weight *= (target_none if r.category == "none" else target_risk) / total


def _batches(
    rows: Sequence[TrainRow], batch_size: int, rng: random.Random, context_turns: int
) -> list[list[TrainRow]]:
    """Shuffled batches of similar length (less padding), in shuffled order; a batch holds
    rows with context or rows without (they are encoded differently)."""
    out: list[list[TrainRow]] = []
    block = batch_size * 16
    for with_context in (False, True):
        order = [r for r in rows if bool(format_context(r.context, context_turns)) == with_context]
        rng.shuffle(order)
        for i in range(0, len(order), block):
            chunk = sorted(
                order[i : i + block], key=lambda r: len(r.text) + sum(map(len, r.context))
            )
            out.extend(chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size))
    rng.shuffle(out)
    return out


def train_finetuned(
    rows: Sequence[TrainRow],
    *,
    base: str | None = None,
    epochs: int = 3,
    lr: float = 1e-3,
    rank: int = 8,
    alpha: int = 16,
    dropout: float = 0.1,
    max_length: int = 96,
    batch_size: int = 32,
    context_turns: int = 3,
    seed: int = 0,
    threads: int | None = None,
    max_steps: int | None = None,
    top_layers: int | None = 4,
    progress: bool = True,
    on_epoch: Callable[[int, FinetunedClassifier], None] | None = None,
    info: dict[str, Any] | None = None,
) -> FinetunedClassifier:
    """Fine-tune an encoder with LoRA and a linear head on ``rows``.

    Args:
        rows: the training messages (``weight`` is each row's weight in the loss).
        base: an encoder folder; default all-MiniLM-L6-v2 (the MiniLM package's copy).
        epochs: passes over ``rows``.
        lr: AdamW learning rate (linear warm-up over 6% of the steps, then linear decay).
        rank / alpha / dropout: the LoRA settings.
        max_length: tokens of message plus context.
        batch_size: messages per step.
        context_turns: earlier messages the classifier reads.
        seed: shuffling, dropout and the head's initialisation.
        threads: torch threads while training (restored after).
        max_steps: stop after this many steps (for tests).
        top_layers: adapt only the encoder's last ``top_layers`` layers (``None``: all). The
            layers below run without gradients, which saves a third of the training time
            with 4 of MiniLM's 6 layers.
        progress: show a rich progress bar with the running loss.
        on_epoch: called after each epoch with the classifier so far (say, to score a
            development set).
        info: kept in the file, with the settings and the training counts.

    Raises:
        UserError: no rows, an unknown category, or a category without any row.
    """
    if not rows:
        raise UserError("no training rows")
    unknown = sorted({r.category for r in rows} - set(CATEGORIES))
    if unknown:
        raise UserError(f"unknown categories in the training rows: {unknown}")
    if not any(r.category == "none" for r in rows):
        raise UserError("the training rows need 'none' examples (hard negatives)")
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    config: dict[str, Any] = {
        "base": base or "all-MiniLM-L6-v2",
        "scale": alpha / rank,
        "max_length": max_length,
        "context_turns": context_turns,
        "categories": list(CATEGORIES),
    }
    path = _base_path(config)
    torch.manual_seed(seed)
    rng = random.Random(seed)
    with torch_threads(threads):
        tokenizer = AutoTokenizer.from_pretrained(path)
        encoder = AutoModel.from_pretrained(path)
        n_layers = int(encoder.config.num_hidden_layers)
        first = 0 if top_layers is None else max(0, n_layers - top_layers)
        layers = "|".join(str(i) for i in range(first, n_layers))
        model = get_peft_model(
            encoder,
            LoraConfig(
                r=rank,
                lora_alpha=alpha,
                lora_dropout=dropout,
                target_modules=TARGET_MODULES.format(layers=layers),
            ),
        )
        hidden = int(encoder.config.hidden_size)
        head = torch.nn.Linear(hidden, len(CATEGORIES))
        drop = torch.nn.Dropout(dropout)
        params = [p for p in model.parameters() if p.requires_grad] + list(head.parameters())
        optim = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
        steps_per_epoch = len(_batches(rows, batch_size, random.Random(0), context_turns))
        total = (
            steps_per_epoch * epochs
            if max_steps is None
            else min(max_steps, steps_per_epoch * epochs)
        )
        warmup = max(1, int(0.06 * total))
        sched = torch.optim.lr_scheduler.LambdaLR(
            optim,
            lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup))),
        )
        index = {c: i for i, c in enumerate(CATEGORIES)}
        step = 0
        started = time.perf_counter()
        classifier: FinetunedClassifier | None = None
        with _progress(total, progress) as advance:
            for epoch in range(epochs):
                model.train()
                head.train()
                for batch in _batches(rows, batch_size, rng, context_turns):
                    if step >= total:
                        break
                    pairs = [
                        (r.text.strip()[:2000], format_context(r.context, context_turns))
                        for r in batch
                    ]
                    enc = encode_pairs(tokenizer, pairs, max_length)
                    pooled = mean_pool(model(**enc).last_hidden_state, enc["attention_mask"])
                    logits = head(drop(pooled))
                    y = torch.tensor([index[r.category] for r in batch])
                    w = torch.tensor([r.weight for r in batch], dtype=torch.float32)
                    loss = torch.nn.functional.cross_entropy(logits, y, reduction="none") * w
                    loss = loss.sum() / w.sum().clamp(min=1e-9)
                    optim.zero_grad()
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(params, 1.0)
                    optim.step()
                    sched.step()
                    step += 1
                    advance(epoch + 1, float(loss.detach()))
                classifier = _extract(model, head, config, info, rows, epoch + 1, started)
                if on_epoch is not None:
                    on_epoch(epoch + 1, classifier)
                if step >= total:
                    break
        assert classifier is not None
        return classifier


def _extract(
    model: Any,
    head: Any,
    config: dict[str, Any],
    info: dict[str, Any] | None,
    rows: Sequence[TrainRow],
    epochs: int,
    started: float,
) -> FinetunedClassifier:
    """The adapters and the head as numpy arrays, in the file's naming."""
    tensors: dict[str, np.ndarray] = {}
    scale = None
    for name, module in model.named_modules():
        lora_a = getattr(module, "lora_A", None)
        if lora_a is None or "default" not in lora_a:
            continue
        plain = name.removeprefix("base_model.model.")
        tensors[f"lora.{plain}.A"] = lora_a["default"].weight.detach().cpu().numpy().copy()
        tensors[f"lora.{plain}.B"] = module.lora_B["default"].weight.detach().cpu().numpy().copy()
        scale = float(module.scaling["default"])
    tensors["head.weight"] = head.weight.detach().cpu().numpy().copy()
    tensors["head.bias"] = head.bias.detach().cpu().numpy().copy()
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.category] = counts.get(r.category, 0) + 1
    sources: dict[str, int] = {}
    for r in rows:
        sources[r.source] = sources.get(r.source, 0) + 1
    full = {
        **config,
        "scale": scale if scale is not None else config["scale"],
        "threshold": 0.5,
        "info": {
            **(info or {}),
            "epochs": epochs,
            "rows": len(rows),
            "per_category": counts,
            "per_source": sources,
            "train_seconds": round(time.perf_counter() - started, 1),
        },
    }
    return FinetunedClassifier(tensors, full)


class _progress:
    """A rich progress bar with the running loss (or nothing)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.enabled = total, enabled
        self.bar: Any = None
        self.loss: float | None = None
        self.step = 0
        self.console: Any = None

    def __enter__(self) -> Callable[[int, float], None]:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.console = Console(stderr=True)
            self.bar = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self.console,
            )
            self.bar.start()
            self.task = self.bar.add_task("fine-tuning", total=self.total)
        return self.advance

    def advance(self, epoch: int, loss: float) -> None:
        self.loss = loss if self.loss is None else 0.95 * self.loss + 0.05 * loss
        self.step += 1
        if self.console is not None and not self.console.is_terminal:
            # a log file gets a line every 5% of the steps instead of a live bar
            every = max(1, self.total // 20)
            if self.step % every == 0 or self.step == self.total:
                self.console.print(
                    f"fine-tuning: step {self.step}/{self.total}, epoch {epoch}, "
                    f"loss {self.loss:.3f}",
                    highlight=False,
                )
        if self.bar is not None:
            self.bar.update(
                self.task,
                advance=1,
                description=f"fine-tuning, epoch {epoch}, loss {self.loss:.3f}",
            )

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def rows_from_texts(texts: Iterable[str], category: str, source: str) -> list[TrainRow]:
    """Rows without context, all of one category."""
    return [TrainRow(t, category, [], 1.0, source) for t in texts]
