"""Role consistency: does a seeker turn read as the supporter's (consoling, advising, or asking
the other side about *their* problem)?

:class:`RoleDetector` is a logistic-regression head over frozen MiniLM embeddings of the
utterance (and the turn before it), trained on ESConv, where every utterance is labelled by
role for free (``sweetiechat quality train-role``). Its score is P(supporter | utterance);
a seeker turn scoring at least :attr:`RoleDetector.threshold` is flagged. A small model
trained on ESConv ships in the package (``RoleDetector.load()``).

An optional LLM check (:meth:`RoleDetector.acheck` with a backend) asks a model, through
:func:`sweetiechat.backends.choice.achoose`, to confirm each flagged turn; a turn the model
says is the seeker's own is not flagged.

>>> from sweetiechat.types import Dialogue, Turn
>>> d = Dialogue(id="d", problem_type="Job Crisis", turns=[
...     Turn(role="seeker", text="I lost my job."),
...     Turn(role="supporter", text="That sounds hard. What happened?", strategy="Question"),
...     Turn(role="seeker", text="I'm so sorry you're going through this. Have you tried "
...          "talking to a counselor about how you feel?")])
>>> detector = RoleDetector.load()                   # doctest: +SKIP
>>> [round(s, 2) for s in detector.scores([(d, 0), (d, 2)])]   # doctest: +SKIP
[0.03, 0.97]
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sweetiechat.errors import ConfigError, first_problem
from sweetiechat.quality.recognizer import check_items, previous_text
from sweetiechat.types import Dialogue

__all__ = ["DEFAULT_ROLE_DIR", "ROLE_FILE", "RoleDetector", "RoleInfo", "RoleVerdict"]

ROLE_FILE = "role.json"
ROLE_HEAD = "role_head.npz"
#: The role detector shipped in the package.
DEFAULT_ROLE_DIR = Path(__file__).parent / "data" / "role"

RoleFeatures = Literal["utterance", "context"]

_LLM_PROMPT = """In an emotional-support conversation, the SEEKER talks about their own problem \
and the SUPPORTER helps them. Read the last utterance, which was written for the seeker.

{context}

Last utterance (seeker): {text}

Does this utterance stay in the seeker's role (talking about their own situation and \
feelings, answering, thanking, asking for advice), or does it slide into the supporter's \
role (consoling or reassuring the other person, giving them advice, or asking about *their* \
problems)? Answer with one word: seeker or supporter."""


def check_threshold(value: float, what: str = "role threshold") -> float:
    """Return ``value`` if it lies strictly between 0 and 1.

    Raises:
        ConfigError: it does not.
    """
    if not 0.0 < value < 1.0:
        raise ConfigError(f"{what} must be between 0 and 1 (exclusive), got {value}")
    return value


class RoleInfo(BaseModel):
    """The contents of ``role.json``."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["sweetiechat-role-detector"] = "sweetiechat-role-detector"
    """Marks the file as a sweetiechat role detector."""
    version: int = 1
    """Version of this layout."""
    features: RoleFeatures = "utterance"
    """``utterance``: the utterance's embedding; ``context``: also the turn before it."""
    base_model: str = "minilm"
    """The encoder (a folder, or ``"minilm"`` for the MiniLM package's)."""
    threshold: float = Field(default=0.5, gt=0, lt=1)
    """Flag a seeker turn whose P(supporter) is at least this (chosen on ESConv valid)."""
    metrics: dict[str, Any] = Field(default_factory=dict)
    """Precision and recall measured at training."""


@dataclass(frozen=True)
class RoleVerdict:
    """The role check of one seeker turn."""

    score: float
    """P(supporter | utterance) from the classifier."""
    flagged: bool
    """True when the turn slides into the supporter's role (after the LLM check, if any)."""
    llm: str | None = None
    """The LLM's answer (``"seeker"`` or ``"supporter"``) when it was asked."""


def read_role_info(folder: Path) -> RoleInfo:
    """Read ``role.json``.

    Raises:
        ConfigError: no such folder, no descriptor or a bad one.
    """
    if not folder.is_dir():
        raise ConfigError(
            f"{folder}: no such role-detector folder; train one with "
            "sweetiechat quality train-role --out FOLDER (or leave it out for the shipped one)"
        )
    path = folder / ROLE_FILE
    if not path.is_file():
        raise ConfigError(f"{folder}: not a role detector (no {ROLE_FILE})")
    try:
        return RoleInfo.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
    except ValidationError as err:
        field, message = first_problem(err, ROLE_FILE)
        raise ConfigError(f"{path}: field {field!r}: {message}") from None


def role_features(encoder: Any, items: Sequence[tuple[Dialogue, int]], kind: str) -> np.ndarray:
    """The detector's input per ``(dialogue, index)``: the utterance's embedding, and for
    ``context`` the previous turn's too."""
    texts = [d.turns[i].text for d, i in items]
    if kind == "utterance":
        return encoder.embed(texts)
    before = [previous_text(d, i) for d, i in items]
    emb = encoder.embed(texts + before)
    return np.concatenate([emb[: len(items)], emb[len(items) :]], axis=1)


class RoleDetector:
    """Scores seeker turns for sliding into the supporter role. Build it with :meth:`load`.

    Args:
        folder: the detector's folder.
        info: its ``role.json``.
        threshold: overrides the folder's threshold.
    """

    def __init__(self, folder: Path, info: RoleInfo, *, threshold: float | None = None) -> None:
        self.folder = folder
        self.info = info
        self.threshold = check_threshold(info.threshold if threshold is None else threshold)
        self._head: Any = None
        self._encoder: Any = None
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls, path: str | Path | None = None, *, threshold: float | None = None
    ) -> RoleDetector:
        """The detector in ``path``; None: the one shipped in the package.

        Raises:
            ConfigError: a missing or bad folder, or a threshold outside (0, 1).
        """
        folder = DEFAULT_ROLE_DIR if path is None else Path(path).expanduser()
        return cls(folder, read_role_info(folder), threshold=threshold)

    def _load(self) -> None:
        if self._head is not None:
            return
        from sweetiechat.quality.embedding import DIM, MiniLM
        from sweetiechat.quality.heads import LinearHead

        dim = DIM if self.info.features == "utterance" else 2 * DIM
        head = LinearHead.load(self.folder / ROLE_HEAD, dim)
        if head.labels != ["seeker", "supporter"]:
            raise ConfigError(f"{self.folder}: labels {head.labels} are not seeker, supporter")
        base = None if self.info.base_model == "minilm" else self.info.base_model
        self._encoder, self._head = MiniLM(base), head

    def scores(self, items: Sequence[tuple[Dialogue, int]]) -> list[float]:
        """P(the turn reads as the supporter's) for each ``(dialogue, index)`` seeker turn.

        Raises:
            UserError: an index that is not a seeker turn.
        """
        check_items(items, "seeker")
        if not items:
            return []
        with self._lock:
            self._load()
            probs = self._head.probabilities(
                role_features(self._encoder, items, self.info.features)
            )
        return [float(p) for p in probs[:, 1]]

    def flags(self, items: Sequence[tuple[Dialogue, int]]) -> list[bool]:
        """True for each seeker turn whose score reaches :attr:`threshold`."""
        return [s >= self.threshold for s in self.scores(items)]

    async def acheck(
        self, items: Sequence[tuple[Dialogue, int]], backend: Any = None
    ) -> list[RoleVerdict]:
        """Score the turns and, with a ``backend``, ask it to confirm each flagged one.

        Args:
            items: ``(dialogue, index)`` seeker turns.
            backend: any backend :func:`~sweetiechat.backends.choice.achoose` accepts, or
                None for the classifier alone.
        """
        import asyncio

        scores = await asyncio.to_thread(self.scores, items)
        verdicts = []
        for (dialogue, index), score in zip(items, scores, strict=True):
            flagged, answer = score >= self.threshold, None
            if flagged and backend is not None:
                answer = await llm_role(backend, dialogue, index)
                flagged = answer == "supporter"
            verdicts.append(RoleVerdict(score, flagged, answer))
        return verdicts


async def llm_role(backend: Any, dialogue: Dialogue, index: int, window: int = 4) -> str:
    """Ask a model whether seeker turn ``index`` reads as the seeker's or the supporter's.

    Returns:
        ``"seeker"`` or ``"supporter"`` (``"seeker"`` when no usable answer came back).
    """
    from sweetiechat.backends.choice import achoose

    before = dialogue.turns[max(0, index - window) : index]
    context = "\n".join(f"{t.role.capitalize()}: {t.text}" for t in before) or "(no context)"
    prompt = _LLM_PROMPT.format(context=context, text=dialogue.turns[index].text)
    choice = await achoose(backend, [("user", prompt)], ["seeker", "supporter"], default="seeker")
    return choice.label
