"""The classifier counselor: an encoder with a classification head over the 8 strategies.

It reads a folder written by ``sweetiechat counselor train --kind classifier`` (a
``transformers`` sequence-classification model, its tokenizer and ``counselor.json``), turns
the dialogue history into one text (:func:`classifier_text`, shaped by
:class:`ClassifierInput`) and takes the most probable strategy. :meth:`select_batch` decides
many dialogues in one forward pass, for fast evaluation.

>>> from sweetiechat.types import Dialogue, Turn
>>> d = Dialogue(id="d", problem_type="Job Crisis", turns=[
...     Turn(role="seeker", text="I lost my job."),
...     Turn(role="supporter", text="What happened?", strategy="Question"),
...     Turn(role="seeker", text="They closed the office.")])
>>> header, history = classifier_text(d, ClassifierInput(emotion=False))
>>> header
'problem: Job Crisis'
>>> history.split(" || ")  # doctest: +ELLIPSIS
['Seeker: They closed the office.', 'Supporter [Question]: What happened?', 'Seeker: I lost...']
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sweetiechat.agents.counselor import CounselorAgent, StrategyChoice
from sweetiechat.errors import ConfigError
from sweetiechat.taxonomy import Strategy, parse_strategy
from sweetiechat.types import Dialogue

__all__ = ["ClassifierCounselor", "ClassifierInput", "classifier_text"]

_EMPTY = "(the conversation starts)"


class ClassifierInput(BaseModel):
    """How the classifier turns a dialogue history into its input text (a setting of
    training, saved with the model and used unchanged at inference).

    The default, newest utterance first so that truncation drops the oldest::

        problem: Job Crisis | emotion: anxiety
        Seeker: I might lose my job. || Supporter [Question]: What happened? || ...
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    window: int = Field(default=6, ge=0)
    """Utterances of history shown (0: the whole history)."""
    problem_type: bool = True
    """Start with the dialogue's problem type."""
    emotion: bool = True
    """Add the seeker's emotion when the dialogue has one (ESConv's ``emotion_type``)."""
    strategies: bool = True
    """Tag each earlier supporter utterance with its strategy (``Supporter [Question]:``)."""
    newest_first: bool = True
    """List the utterances from the most recent back, so truncation drops the oldest."""
    max_length: int = Field(default=256, ge=16)
    """Tokens kept per input (longer inputs are truncated)."""


def classifier_text(dialogue: Dialogue, fmt: ClassifierInput) -> tuple[str | None, str]:
    """The classifier's input for ``dialogue``: (header or ``None``, history).

    The header holds the problem type and the emotion; the history the last ``fmt.window``
    utterances, joined by ``" || "``. The two go to the tokenizer as a text pair.
    """
    header = []
    if fmt.problem_type:
        header.append(f"problem: {dialogue.problem_type.value}")
    if fmt.emotion and dialogue.meta.emotion_type:
        header.append(f"emotion: {dialogue.meta.emotion_type}")
    turns = list(dialogue.turns)
    if fmt.window:
        turns = turns[-fmt.window :]
    lines = []
    for t in turns:
        if t.role == "seeker":
            lines.append(f"Seeker: {t.text}")
        elif fmt.strategies and t.strategy is not None:
            lines.append(f"Supporter [{t.strategy.value}]: {t.text}")
        else:
            lines.append(f"Supporter: {t.text}")
    if fmt.newest_first:
        lines.reverse()
    return (" | ".join(header) or None), (" || ".join(lines) or _EMPTY)


def encode_texts(
    tokenizer: Any, texts: Sequence[tuple[str | None, str]], fmt: ClassifierInput
) -> Any:
    """Tokenize classifier texts (pairs when there is a header) with truncation of the history.

    Returns the tokenizer's batch encoding, unpadded (lists of ids).
    """
    tokenizer.truncation_side = "right" if fmt.newest_first else "left"
    if any(h is not None for h, _ in texts):
        return tokenizer(
            [h or "" for h, _ in texts],
            [b for _, b in texts],
            truncation="only_second",
            max_length=fmt.max_length,
        )
    return tokenizer([b for _, b in texts], truncation=True, max_length=fmt.max_length)


class ClassifierCounselor(CounselorAgent):
    """A trained classifier counselor, loaded from its folder.

    Args:
        folder: the output folder of ``sweetiechat counselor train --kind classifier``.
        batch_size: dialogues per forward pass in :meth:`select_batch`.
        device: ``"cpu"``, ``"cuda"`` ...; default: CUDA when available.

    Raises:
        ConfigError: the folder is missing or is not a classifier counselor.
    """

    def __init__(
        self, folder: str | Path, *, batch_size: int = 32, device: str | None = None
    ) -> None:
        from sweetiechat.agents.trained import read_counselor_folder

        self.folder = Path(folder)
        info = read_counselor_folder(self.folder, expect_kind="classifier")
        self.input = ClassifierInput.model_validate(info.input or {})
        self.window = self.input.window
        self.batch_size = batch_size
        self.device = device
        self.name = f"classifier:{self.folder.name}"
        self._model: Any = None
        self._tokenizer: Any = None
        self._labels: list[Strategy] = []
        self._lock = threading.Lock()

    def _load(self) -> None:
        if self._model is not None:
            return
        try:
            import torch
            from transformers import AutoModelForSequenceClassification, AutoTokenizer
        except ImportError as err:
            raise ConfigError(
                f"the classifier counselor needs {err.name}: pip install 'sweetiechat[train]'"
            ) from None
        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        tokenizer = AutoTokenizer.from_pretrained(self.folder)
        model = AutoModelForSequenceClassification.from_pretrained(self.folder)
        model.to(device).eval()
        id2label = model.config.id2label
        self._labels = [parse_strategy(id2label[i]) for i in range(len(id2label))]
        if sorted(s.value for s in self._labels) != sorted(s.value for s in Strategy):
            raise ConfigError(
                f"{self.folder}: the model's labels {list(id2label.values())} are not the 8 "
                "strategies; retrain it with sweetiechat counselor train --kind classifier"
            )
        self._tokenizer, self._model, self.device = tokenizer, model, device

    def probabilities(self, dialogues: Sequence[Dialogue]) -> list[dict[Strategy, float]]:
        """P(strategy | history) for each dialogue, in batches of :attr:`batch_size`."""
        import torch

        with self._lock:
            self._load()
            out: list[dict[Strategy, float]] = []
            for start in range(0, len(dialogues), self.batch_size):
                chunk = dialogues[start : start + self.batch_size]
                texts = [classifier_text(d, self.input) for d in chunk]
                enc = encode_texts(self._tokenizer, texts, self.input)
                batch = self._tokenizer.pad(enc, return_tensors="pt").to(self.device)
                with torch.inference_mode():
                    probs = torch.softmax(self._model(**batch).logits.float(), dim=-1).cpu()
                for row in probs.tolist():
                    out.append({s: float(p) for s, p in zip(self._labels, row, strict=True)})
            return out

    def select_batch(self, dialogues: Sequence[Dialogue]) -> list[StrategyChoice]:
        """Choose the next strategy for many dialogues at once."""
        return [
            StrategyChoice(max(p, key=p.__getitem__), {s: p[s] for s in Strategy})
            for p in self.probabilities(dialogues)
        ]

    async def aselect(self, dialogue: Dialogue) -> StrategyChoice:
        (choice,) = await asyncio.to_thread(self.select_batch, [dialogue])
        return choice
