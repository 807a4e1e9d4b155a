"""The strategy recognizer: reads a supporter *response* in its context and says which of the
8 strategies it uses (the reverse of the counselor, which picks a strategy before the
response exists).

Two kinds share one folder layout (``recognizer.json`` says which):

- ``finetuned``: the classifier counselor's encoder and head
  (:mod:`sweetiechat.trainer.classifier`), trained on inputs that end with the response;
  the folder is also a valid classifier-counselor folder (``counselor.json``).
- ``frozen``: a logistic-regression head over frozen MiniLM embeddings of the response and
  the seeker utterance before it (``head.npz``, a few KB, no pickle).

Train either with ``sweetiechat quality train-recognizer`` (:mod:`.recognizer_train`).

>>> from sweetiechat.types import Dialogue, Turn
>>> d = Dialogue(id="d", problem_type="Job Crisis", turns=[
...     Turn(role="seeker", text="I lost my job."),
...     Turn(role="supporter", text="What happened?", strategy="Question")])
>>> ctx = response_context(d, 1)
>>> ctx.turns[-1].text, ctx.turns[-1].strategy
('What happened?', None)
>>> rec = StrategyRecognizer.load("runs/recognizer")            # doctest: +SKIP
>>> rec.predict([(d, 1)])[0][0]                                 # doctest: +SKIP
<Strategy.QUESTION: 'Question'>
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sweetiechat.errors import ConfigError, UserError, first_problem
from sweetiechat.taxonomy import Strategy, parse_strategy
from sweetiechat.types import Dialogue, Turn

__all__ = [
    "DEFAULT_RECOGNIZER_DIR",
    "RECOGNIZER_FILE",
    "RecognizerInfo",
    "StrategyRecognizer",
    "check_items",
    "previous_text",
    "response_context",
]

RECOGNIZER_FILE = "recognizer.json"
HEAD_FILE = "head.npz"
#: The frozen recognizer shipped in the package (MiniLM + logistic regression, ESConv train).
DEFAULT_RECOGNIZER_DIR = Path(__file__).parent / "data" / "recognizer"

Prediction = tuple[Strategy, dict[Strategy, float]]


class RecognizerInfo(BaseModel):
    """The contents of ``recognizer.json``."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["sweetiechat-recognizer"] = "sweetiechat-recognizer"
    """Marks the file as a sweetiechat strategy recognizer."""
    version: int = 1
    """Version of this layout."""
    kind: Literal["finetuned", "frozen"]
    """``finetuned``: a sequence classifier; ``frozen``: a linear head over MiniLM."""
    base_model: str
    """The encoder it was trained from (a folder, or ``"minilm"`` for the package's)."""
    labels: list[str] = Field(default_factory=lambda: [s.value for s in Strategy])
    """The label map: class index -> strategy name."""
    input: dict[str, Any] | None = None
    """finetuned: the ClassifierInput settings the inputs were rendered with."""
    metrics: dict[str, Any] = Field(default_factory=dict)
    """Scores measured at training (``test``: accuracy, macro-F1, n)."""


def response_context(dialogue: Dialogue, index: int) -> Dialogue:
    """The dialogue cut just after turn ``index``, with that turn's strategy removed (so the
    recognizer reads the response, never its label)."""
    turn = dialogue.turns[index]
    bare = Turn(role="supporter", text=turn.text)
    return dialogue.model_copy(update={"turns": [*dialogue.turns[:index], bare]})


def previous_text(dialogue: Dialogue, index: int, role: str | None = None) -> str:
    """The text of the nearest turn before ``index`` (of ``role`` when given), or ``""``."""
    for turn in reversed(dialogue.turns[:index]):
        if role is None or turn.role == role:
            return turn.text
    return ""


def check_items(items: Sequence[tuple[Dialogue, int]], role: str) -> None:
    """Fail unless every ``(dialogue, index)`` points at a turn of ``role``.

    Raises:
        UserError: an index out of range, or a turn of the other role.
    """
    for dialogue, index in items:
        if not 0 <= index < len(dialogue.turns):
            raise UserError(
                f"dialogue {dialogue.id}: turn {index} does not exist ({len(dialogue.turns)} turns)"
            )
        if dialogue.turns[index].role != role:
            raise UserError(f"dialogue {dialogue.id}: turn {index} is not a {role} turn")


def read_info(folder: Path) -> RecognizerInfo:
    """Read ``recognizer.json``.

    Raises:
        ConfigError: no such folder, no descriptor or a bad one.
    """
    if not folder.is_dir():
        raise ConfigError(
            f"{folder}: no such recognizer folder; train one with "
            "sweetiechat quality train-recognizer --out FOLDER"
        )
    path = folder / RECOGNIZER_FILE
    if not path.is_file():
        raise ConfigError(
            f"{folder}: not a strategy recognizer (no {RECOGNIZER_FILE}); train one with "
            "sweetiechat quality train-recognizer"
        )
    try:
        return RecognizerInfo.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
    except ValidationError as err:
        field, message = first_problem(err, RECOGNIZER_FILE)
        raise ConfigError(f"{path}: field {field!r}: {message}") from None


class StrategyRecognizer:
    """Recognizes the strategy of supporter turns. Build it with :meth:`load`.

    Args:
        folder: the recognizer folder.
        info: its ``recognizer.json``.
        batch_size: responses per forward pass.
    """

    def __init__(self, folder: Path, info: RecognizerInfo, *, batch_size: int = 32) -> None:
        self.folder = folder
        self.info = info
        self.batch_size = batch_size
        self.name = f"recognizer:{folder.name}"
        self._labels = [parse_strategy(x) for x in info.labels]
        if sorted(s.value for s in self._labels) != sorted(s.value for s in Strategy):
            raise ConfigError(f"{folder}: labels {info.labels} are not the 8 strategies")
        self._classifier: Any = None
        self._head: Any = None
        self._encoder: Any = None
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: str | Path | None = None, *, batch_size: int = 32) -> StrategyRecognizer:
        """The recognizer in ``path``; None: the frozen one shipped in the package (trained
        on ESConv train; models load lazily, on the first prediction).

        Raises:
            ConfigError: the folder is missing or is not a recognizer.
        """
        folder = DEFAULT_RECOGNIZER_DIR if path is None else Path(path).expanduser()
        return cls(folder, read_info(folder), batch_size=batch_size)

    def _probabilities(self, items: Sequence[tuple[Dialogue, int]]) -> np.ndarray:
        if self.info.kind == "finetuned":
            if self._classifier is None:
                from sweetiechat.agents.classifier import ClassifierCounselor

                self._classifier = ClassifierCounselor(self.folder, batch_size=self.batch_size)
            contexts = [response_context(d, i) for d, i in items]
            rows = self._classifier.probabilities(contexts)
            return np.array([[row[s] for s in self._labels] for row in rows])
        if self._head is None:
            from sweetiechat.quality.embedding import DIM, MiniLM
            from sweetiechat.quality.heads import LinearHead

            base = None if self.info.base_model == "minilm" else self.info.base_model
            self._encoder = MiniLM(base)
            self._head = LinearHead.load(self.folder / HEAD_FILE, 2 * DIM)
        return self._head.probabilities(frozen_features(self._encoder, items))

    def predict(self, items: Sequence[tuple[Dialogue, int]]) -> list[Prediction]:
        """The recognized strategy of each supporter turn, with P(strategy | response).

        Args:
            items: ``(dialogue, index)`` pairs; ``dialogue.turns[index]`` is a supporter
                turn (its own strategy label, if any, is never read).

        Raises:
            UserError: an index that is not a supporter turn.
        """
        check_items(items, "supporter")
        if not items:
            return []
        with self._lock:
            probs = self._probabilities(items)
        out: list[Prediction] = []
        for row in probs:
            dist = {s: float(p) for s, p in zip(self._labels, row, strict=True)}
            out.append((max(dist, key=dist.__getitem__), {s: dist[s] for s in Strategy}))
        return out


def frozen_features(encoder: Any, items: Sequence[tuple[Dialogue, int]]) -> np.ndarray:
    """[response embedding, previous seeker utterance embedding] per item."""
    responses = [d.turns[i].text for d, i in items]
    before = [previous_text(d, i, "seeker") for d, i in items]
    emb = encoder.embed(responses + before)
    n = len(items)
    return np.concatenate([emb[:n], emb[n:]], axis=1)
