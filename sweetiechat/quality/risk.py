"""The crisis risk detector: precise patterns, a MiniLM semantic layer, an optional model check,
and the context of the last few turns.

>>> d = RiskDetector(semantic=False)
>>> d.assess("I've been giving my things away, I won't need them.").category
'suicidal_ideation'
>>> d.assess("This deadline is killing me.").risk
False
>>> d.assess("I bought a rope last week.", context=["I just want to end it all."]).layer
'context'

The detector reads English only. Text in another language is flagged conservatively (risk,
layer ``"language"``), so a person is asked about safety rather than missed.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

import numpy as np

from sweetiechat._async import run_sync
from sweetiechat.errors import ConfigError
from sweetiechat.quality.explained import about_the_past, context_explains
from sweetiechat.quality.language import looks_english
from sweetiechat.quality.patterns import (
    has_cue,
    has_harm_cue,
    has_topic_cue,
    match_patterns,
)
from sweetiechat.quality.semantic import (
    CATEGORIES,
    SemanticLayer,
    semantic_available,
    spell_out,
)
from sweetiechat.types import Turn

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from sweetiechat.backends.base import ChatBackend
    from sweetiechat.quality.finetuned import FinetunedClassifier
    from sweetiechat.quality.head import RiskHead

__all__ = [
    "CATEGORIES",
    "RiskAssessment",
    "RiskCategory",
    "RiskDetector",
    "default_detector",
    "looks_english",
]

RiskCategory = Literal[
    "suicidal_ideation", "self_harm", "harm_from_others", "means_request", "none"
]
Layer = Literal[
    "empty",
    "pattern",
    "semantic",
    "classifier",
    "finetuned",
    "model",
    "context",
    "language",
    "none",
]

#: Tuned on the development half of ``benchmarks/data/crisis_eval.jsonl``.
SEMANTIC_THRESHOLD = 0.6
#: A message whose semantic risk reaches this, after a risky turn, is flagged.
CONTEXT_THRESHOLD = 0.3


@dataclass(frozen=True)
class RiskAssessment:
    """The detector's verdict on one message."""

    risk: bool
    """True when any risk category applies."""
    category: RiskCategory
    """The most likely category; ``"none"`` when there is no risk."""
    score: float
    """Confidence in ``category`` (0-1): 1.0 for a precise pattern, else the layer's score."""
    layer: Layer
    """The layer that decided: ``pattern``, ``semantic`` (prototypes), ``classifier`` (the
    trained head), ``finetuned`` (the fine-tuned MiniLM), ``model``, ``context``,
    ``language`` (non-English, flagged conservatively), ``empty`` or ``none``."""
    scores: dict[str, float] = field(default_factory=dict)
    """The semantic layer's score per category, when it ran."""
    evidence: str | None = None
    """The words or sentence that fired."""
    note: str | None = None
    """Anything a reader should know (English-only, truncated ...)."""

    def to_json(self) -> dict[str, Any]:
        """The CLI's record: ``risk``, ``category``, ``score``, ``layer`` (+ ``note``)."""
        out: dict[str, Any] = {
            "risk": self.risk,
            "category": self.category,
            "score": round(self.score, 4),
            "layer": self.layer,
        }
        if self.note:
            out["note"] = self.note
        return out


_NONE = RiskAssessment(False, "none", 0.0, "none")


def _passes_gates(category: str, text: str) -> bool:
    """The lexical gates of a semantic verdict."""
    plain = spell_out(text)
    if category == "harm_from_others":
        # MiniLM puts any sentence about a partner or parent near this category; without a
        # word of violence, threat or fear it is an ordinary relationship message.
        return has_harm_cue(plain)
    # a generic sentence ("I wish I could.") that only shares a prototype's shape
    return has_topic_cue(category, plain)


class RiskDetector:
    """Finds suicide, self-harm, danger-from-others and means-request risk in seeker messages.

    Args:
        semantic: use the MiniLM layer: ``True``, ``False``, ``"auto"`` (when its packages are
            installed; warns once otherwise) or a :class:`SemanticLayer`.
        threshold: semantic risk score (1 - P(none)) at which the prototypes flag a message;
            ``None`` (the default): the fine-tuned layer's ``prototype_threshold`` when its file
            sets one, else ``SEMANTIC_THRESHOLD`` (0.6).
        model: a chat backend for the optional model check (through ``choose``); it is
            asked about messages the offline layers find uncertain, and about non-English text.
        model_band: the semantic risk scores that count as uncertain; ``None`` (the
            default): from 0.25 up to the prototypes' ``threshold``.
        context_turns: how many earlier seeker turns are read as context.
        max_chars: longer messages are matched by the patterns in full, but only their first
            sentences are embedded (the assessment says so in ``note``).
        head: the trained layer (a logistic-regression head on the same MiniLM embeddings,
            :mod:`sweetiechat.quality.head`): ``"auto"`` (the shipped one when present),
            ``True`` for the shipped one, ``False``/``None`` for none, a
            :class:`~sweetiechat.quality.head.RiskHead` or a head file. It only runs with the
            semantic layer, and only adds risk the prototypes missed. ``"auto"`` leaves it off
            when the fine-tuned layer in use was chosen to replace it.
        finetuned: the fine-tuned layer (MiniLM fine-tuned with LoRA, reading the message
            with its context, :mod:`sweetiechat.quality.finetuned`): ``"auto"`` (the default:
            the shipped one when present; it found more risk at higher precision than the
            layers without it on both blind sets, docs/safety.md), ``True`` for the shipped
            one, ``False``/``None`` for none (about half the CPU per message), a
            :class:`~sweetiechat.quality.finetuned.FinetunedClassifier` or a file. It only
            runs with the semantic layer, adds risk the layers before it missed, below its
            ``veto`` score overrules the prototypes and the logistic head, and below its
            ``overrule`` score (when set) a precise pattern and the context rule too.
    """

    def __init__(
        self,
        *,
        semantic: bool | Literal["auto"] | SemanticLayer = "auto",
        threshold: float | None = None,
        model: ChatBackend | BaseChatModel | None = None,
        model_band: tuple[float, float] | None = None,
        context_turns: int = 3,
        max_chars: int = 20_000,
        head: bool | Literal["auto"] | RiskHead | str | Path | None = "auto",
        finetuned: bool | Literal["auto"] | FinetunedClassifier | str | Path | None = "auto",
    ) -> None:
        if isinstance(semantic, SemanticLayer):
            self.semantic: SemanticLayer | None = semantic
        elif semantic is True or (semantic == "auto" and semantic_available()):
            self.semantic = SemanticLayer()
        else:
            if semantic == "auto":
                warnings.warn(
                    "crisis detection runs on patterns only; for the semantic layer "
                    "pip install 'sweetiechat[safety]'",
                    stacklevel=2,
                )
            self.semantic = None
        self.model = model
        self._model_band = model_band
        self.context_turns = context_turns
        self.max_chars = max_chars
        self.head: RiskHead | None = None
        if self.semantic is not None and head is not None and head is not False:
            from sweetiechat.quality.head import RiskHead, load_head, shipped_head_exists

            self.head = _load_layer(head, RiskHead, load_head, shipped_head_exists)
        self.finetuned: FinetunedClassifier | None = None
        if self.semantic is not None and finetuned is not None and finetuned is not False:
            from sweetiechat.quality.finetuned import (
                FinetunedClassifier,
                load_finetuned,
                shipped_finetuned_exists,
            )

            self.finetuned = _load_layer(
                finetuned, FinetunedClassifier, load_finetuned, shipped_finetuned_exists
            )
        if (
            head == "auto"
            and self.finetuned is not None
            and self.finetuned.info.get("keep_logistic_head") is False
        ):
            # the fine-tuned layer was chosen to replace the logistic head (on development
            # data, benchmarks/safety_finetune.py); head=True still turns it on
            self.head = None
        # without one given, the prototypes' threshold chosen with the fine-tuned layer's settings
        chosen = self.finetuned.prototype_threshold if self.finetuned is not None else None
        self.threshold: float = next(
            t for t in (threshold, chosen, SEMANTIC_THRESHOLD) if t is not None
        )

    @property
    def model_band(self) -> tuple[float, float]:
        """The semantic risk scores the model check is asked about (when one is configured)."""
        return self._model_band if self._model_band is not None else (0.25, self.threshold)

    # -- one message, no context ---------------------------------------------------------

    def _offline(
        self, texts: Sequence[str], contexts: Sequence[Sequence[str]] | None = None
    ) -> list[RiskAssessment]:
        """Each message alone, but for the fine-tuned layer, which reads ``contexts[i]``
        (none when ``contexts`` is ``None``)."""
        out: list[RiskAssessment | None] = [None] * len(texts)
        todo: list[int] = []
        past: dict[int, str] = {}
        overruled: dict[int, str] = {}
        hits: dict[int, tuple[str, str]] = {}
        for i, text in enumerate(texts):
            if not text or not text.strip():
                out[i] = RiskAssessment(False, "none", 0.0, "empty", note="empty message")
                continue
            hit = match_patterns(text)
            if (
                hit
                and self.semantic is not None  # patterns only: nothing else would decide
                and context_explains(hit[0], text, list(contexts[i]) if contexts else [])
            ):
                hit = None  # a toddler's hitting, a dog's dose, a retirement's goodbye letter
            if hit and self.finetuned is not None and about_the_past(hit[0], text, hit[1]):
                past[i] = hit[1]  # "I used to ... that was 2019": the learned layers decide
                hit = None
            if hit:
                hits[i] = hit
        for i in self._overruled(texts, contexts, sorted(hits)):
            overruled[i] = hits.pop(i)[1]  # the learned layers decide
        for i, text in enumerate(texts):
            if out[i] is not None:
                continue
            hit = hits.get(i)
            if hit:
                out[i] = RiskAssessment(
                    True, cast(RiskCategory, hit[0]), 1.0, "pattern", evidence=hit[1]
                )
            elif not looks_english(text):
                out[i] = RiskAssessment(
                    True,
                    "suicidal_ideation",
                    0.5,
                    "language",
                    note="the detector reads English only; non-English text is flagged "
                    "for a safety check",
                )
            elif self.semantic is None:
                out[i] = _NONE
            else:
                todo.append(i)
        if todo and self.semantic is not None:
            cut = [texts[i][: self.max_chars] for i in todo]
            scored = self.semantic.score_many(cut)
            heads = self._head_scores(cut)
            tuned = self._finetuned_scores(cut, [contexts[i] if contexts else [] for i in todo])
            for i, (scores, unit), h, f in zip(todo, scored, heads, tuned, strict=True):
                out[i] = self._from_scores(scores, unit, texts[i], h, f)
        notes = {
            i: f"the precise pattern {words!r} is about the past here; the learned layers "
            "found no current risk"
            for i, words in past.items()
        }
        for i, words in overruled.items():
            notes[i] = (
                f"the precise pattern {words!r} was overruled: the fine-tuned layer read no risk "
                "in the message and its context"
            )
        for i, note in notes.items():
            verdict = out[i]
            if verdict is not None and not verdict.risk:  # the learned layers found none
                out[i] = replace(verdict, note=note)
        return [o if o is not None else _NONE for o in out]

    def _overruled(
        self,
        texts: Sequence[str],
        contexts: Sequence[Sequence[str]] | None,
        hits: Sequence[int] = (0,),
    ) -> list[int]:
        """The verdicts (indices into ``texts``; by default the first) the fine-tuned layer
        overrules, a precise pattern's or the context rule's: it reads the whole message (a
        long one it reads only in part is never overruled) and its risk score, the message read
        in its context, is below its ``overrule`` setting."""
        clf = self.finetuned
        if not hits or clf is None or clf.overrule is None or self.semantic is None:
            return []
        cut = [texts[i][: self.max_chars] for i in hits]
        earlier = [list(contexts[i]) if contexts else [] for i in hits]
        probs = clf.probabilities(cut, earlier)
        none = clf.categories.index("none")
        threshold = clf.overrule
        low = [j for j, row in enumerate(probs) if 1.0 - row[none] < threshold]
        if not low:
            return []
        whole = clf.reads_whole([cut[j] for j in low], [earlier[j] for j in low])
        return [hits[j] for j, w in zip(low, whole, strict=True) if w]

    def _head_scores(self, texts: Sequence[str]) -> list[tuple[dict[str, float], str] | None]:
        """Per message: the trained head's scores for its riskiest sentence."""
        if self.head is None or self.semantic is None:
            return [None] * len(texts)
        units = [self.semantic.units(t) for t in texts]
        flat = [u for us in units for u in us]
        probs = self.head.probabilities(self.semantic.embed(flat)) if flat else None
        out: list[tuple[dict[str, float], str] | None] = []
        i = 0
        for us in units:
            if not us or probs is None:
                out.append(None)
                continue
            block = probs[i : i + len(us)]
            i += len(us)
            best = int(np.argmax(1.0 - block[:, -1]))
            cats = self.head.categories
            out.append(({c: round(float(block[best, j]), 4) for j, c in enumerate(cats)}, us[best]))
        return out

    def _finetuned_scores(
        self, texts: Sequence[str], contexts: Sequence[Sequence[str]]
    ) -> list[dict[str, float] | None]:
        """Per message: the fine-tuned layer's scores, the message read in its context."""
        if self.finetuned is None:
            return [None] * len(texts)
        probs = self.finetuned.probabilities(texts, contexts)
        cats = self.finetuned.categories
        return [{c: round(float(row[j]), 4) for j, c in enumerate(cats)} for row in probs]

    def _vetoed(self, tuned: dict[str, float] | None) -> bool:
        """True when the fine-tuned layer is sure enough there is no risk to overrule the
        prototypes and the logistic head: its risk score is below its ``veto`` setting (a
        pattern only below its ``overrule`` setting, :meth:`_overruled`)."""
        if tuned is None or self.finetuned is None or self.finetuned.veto is None:
            return False
        return 1.0 - tuned["none"] < self.finetuned.veto

    def _from_finetuned(
        self, scores: dict[str, float] | None, text: str, note: str | None, support: float
    ) -> RiskAssessment | None:
        """The fine-tuned layer's verdict, when it finds risk (and, with its ``support``
        setting, the prototypes or the logistic head see at least that much risk too)."""
        if scores is None or self.finetuned is None:
            return None
        risk_score = 1.0 - scores["none"]
        if risk_score < self.finetuned.threshold:
            return None
        if self.finetuned.support is not None and support < self.finetuned.support:
            return None
        category = cast(RiskCategory, max(CATEGORIES[:-1], key=lambda c: scores.get(c, 0.0)))
        if self.finetuned.gates and not _passes_gates(category, text[: self.max_chars]):
            return None
        return RiskAssessment(
            True, category, risk_score, "finetuned", scores, evidence=text[:200], note=note
        )

    def _from_head(
        self, head: tuple[dict[str, float], str] | None, text: str, note: str | None
    ) -> RiskAssessment | None:
        """The trained head's verdict, when it finds risk."""
        if head is None or self.head is None:
            return None
        scores, unit = head
        risk_score = 1.0 - scores["none"]
        if risk_score < self.head.threshold:
            return None
        category = cast(RiskCategory, max(CATEGORIES[:-1], key=lambda c: scores[c]))
        if self.head.gates and not _passes_gates(category, text[: self.max_chars]):
            return None
        return RiskAssessment(
            True, category, risk_score, "classifier", scores, evidence=unit, note=note
        )

    def _from_scores(
        self,
        scores: dict[str, float],
        unit: str,
        text: str,
        head: tuple[dict[str, float], str] | None = None,
        tuned: dict[str, float] | None = None,
    ) -> RiskAssessment:
        cut = len(text) > self.max_chars
        risk_score = 1.0 - scores["none"]
        category = cast(RiskCategory, max(CATEGORIES[:-1], key=lambda c: scores[c]))
        note = f"only the first {self.max_chars} characters were embedded" if cut else None
        if not _passes_gates(category, text[: self.max_chars]) or self._vetoed(tuned):
            risk_score = 0.0
        if risk_score >= self.threshold:
            return RiskAssessment(
                True,
                category,
                risk_score,
                "semantic",
                scores,
                evidence=unit,
                note=note,
            )
        trained = None if self._vetoed(tuned) else self._from_head(head, text, note)
        if trained is not None:
            return trained
        seen = max(1.0 - scores["none"], 1.0 - head[0]["none"] if head else 0.0)
        fine = self._from_finetuned(tuned, text, note, seen)
        if fine is not None:
            return fine
        if head is not None and head[0]["none"] < scores["none"]:
            scores = head[0]  # the riskier reading, for the context layer and the model check
        if tuned is not None and tuned["none"] < scores["none"]:
            scores = tuned
        return RiskAssessment(False, "none", scores["none"], "none", scores, note=note)

    # -- with context and the model check ------------------------------------------------

    def _with_context(
        self,
        own: RiskAssessment,
        text: str,
        context: Sequence[RiskAssessment],
        earlier: Sequence[str] = (),
    ) -> RiskAssessment:
        """``own`` read after the verdicts on the earlier turns (``earlier``: their text)."""
        if own.risk or own.layer == "empty":
            return own
        risky = [c for c in context if c.risk]
        if not risky:
            return own
        semantic_risk = 1.0 - own.scores["none"] if own.scores else 0.0
        if has_cue(text) or semantic_risk >= CONTEXT_THRESHOLD:
            if self._overruled([text], [earlier]):
                return replace(
                    own,
                    note="an earlier turn was flagged, but the fine-tuned layer read no risk "
                    "in this message after it",
                )
            before = risky[-1]
            asks = "?" in text and (own.scores.get("means_request", 0) > 0.1 or has_cue(text))
            category: RiskCategory = "means_request" if asks else before.category
            return RiskAssessment(
                True,
                category,
                max(semantic_risk, 0.5),
                "context",
                own.scores,
                evidence=text[:200],
                note="read with the earlier turns",
            )
        return own

    def assess_many(
        self, texts: Sequence[str], contexts: Sequence[Sequence[str]] | None = None
    ) -> list[RiskAssessment]:
        """Assess many messages at once (batched embeddings: the fast path for datasets).

        ``contexts[i]`` holds the seeker's earlier messages before ``texts[i]``, oldest first.
        With a model check configured, use :meth:`aassess_many` inside an event loop.
        """
        if self.model is not None:
            return run_sync(self.aassess_many(texts, contexts))
        return self._offline_many(texts, contexts)[0]

    async def aassess_many(
        self, texts: Sequence[str], contexts: Sequence[Sequence[str]] | None = None
    ) -> list[RiskAssessment]:
        """:meth:`assess_many`, awaiting the model check."""
        out, ctx = self._offline_many(texts, contexts)
        if self.model is None:
            return out
        return [await self._model_check(t, a, c) for t, a, c in zip(texts, out, ctx, strict=True)]

    def _offline_many(
        self, texts: Sequence[str], contexts: Sequence[Sequence[str]] | None
    ) -> tuple[list[RiskAssessment], list[list[str]]]:
        ctx = [list(c)[-self.context_turns :] for c in (contexts or [[] for _ in texts])]
        if len(ctx) != len(texts):
            raise ValueError("contexts must have one entry per text")
        flat = list(texts) + [t for c in ctx for t in c]
        offline = self._offline(flat, ctx + [[] for c in ctx for _ in c])
        own, rest = offline[: len(texts)], offline[len(texts) :]
        out, i = [], 0
        for text, a, c in zip(texts, own, ctx, strict=True):
            out.append(self._with_context(a, text, rest[i : i + len(c)], c))
            i += len(c)
        return out, ctx

    async def aassess(self, text: str, context: Sequence[str] = ()) -> RiskAssessment:
        """:meth:`assess`, awaiting the model check (use it inside a running event loop)."""
        ctx = list(context)[-self.context_turns :]
        offline = self._offline([text, *ctx], [ctx, *([] for _ in ctx)])
        result = self._with_context(offline[0], text, offline[1:], ctx)
        return await self._model_check(text, result, ctx)

    def assess(self, text: str, context: Sequence[str] = ()) -> RiskAssessment:
        """The risk in ``text``, read after the seeker's earlier messages ``context``."""
        if self.model is not None:
            return run_sync(self.aassess(text, context))
        return self.assess_many([text], [context])[0]

    async def _model_check(
        self, text: str, result: RiskAssessment, context: Sequence[str]
    ) -> RiskAssessment:
        if self.model is None or result.layer in ("pattern", "empty", "context"):
            return result
        uncertain = result.layer == "language" or (
            not result.risk
            and self.model_band[0] <= 1.0 - result.scores.get("none", 1.0) < self.model_band[1]
        )
        if not uncertain:
            return result
        from sweetiechat.quality.model_check import ask_model

        verdict = await ask_model(self.model, text, context)
        if verdict is None:
            return result
        category, probability = verdict
        if category == "none":
            return result
        return RiskAssessment(
            True,
            cast(RiskCategory, category),
            probability,
            "model",
            result.scores,
            evidence=text[:200],
            note=result.note,
        )

    # -- dialogues -------------------------------------------------------------------------

    def assess_turns(self, turns: Sequence[Turn]) -> list[RiskAssessment]:
        """One assessment per seeker turn, each read after the seeker's earlier turns."""
        seeker = [t.text for t in turns if t.role == "seeker"]
        return self.assess_many(seeker, [seeker[:i] for i in range(len(seeker))])

    async def aassess_turns(self, turns: Sequence[Turn]) -> list[RiskAssessment]:
        """:meth:`assess_turns`, awaiting the model check."""
        seeker = [t.text for t in turns if t.role == "seeker"]
        return await self.aassess_many(seeker, [seeker[:i] for i in range(len(seeker))])

    def dialogue_risk(self, turns: Sequence[Turn]) -> RiskAssessment:
        """The first risky seeker turn's assessment, else a no-risk one."""
        return next((a for a in self.assess_turns(turns) if a.risk), _NONE)


_L = TypeVar("_L")


def _load_layer(
    value: Any, kind: type[_L], load: Callable[[Any], _L], shipped: Callable[[], bool]
) -> _L | None:
    """A trained layer from a detector argument: an instance as it is; ``"auto"`` the
    shipped one when the package has it; ``True`` the shipped one; else a file to load."""
    if isinstance(value, kind):
        return value
    if value == "auto":
        return load(None) if shipped() else None
    return load(None if value is True else value)


_DEFAULT: RiskDetector | None = None


def default_detector() -> RiskDetector:
    """The shared detector (patterns + the semantic layer when installed), built once.

    ``SWEETIECHAT_SAFETY_SEMANTIC=off`` in the environment makes it patterns-only (no MiniLM
    load, about 10 s per process): for quick runs and tests that do not measure safety.
    The fine-tuned layer is on (when the package ships it); ``SWEETIECHAT_SAFETY_FINETUNED=off``
    leaves it out (about half the CPU per message, but fewer risk messages found).
    ``SWEETIECHAT_SAFETY_THRESHOLD=0.6`` sets the fine-tuned layer's threshold (a number
    between 0 and 1; the shipped one is in the adapter): lower finds more risk messages for
    more false alarms (docs/safety.md, "Choosing an operating point").
    """
    global _DEFAULT
    if _DEFAULT is None:
        detector = RiskDetector(
            semantic="auto" if _switch("SWEETIECHAT_SAFETY_SEMANTIC", True) else False,
            finetuned="auto" if _switch("SWEETIECHAT_SAFETY_FINETUNED", True) else False,
        )
        threshold = env_threshold()
        if threshold is not None:
            if detector.finetuned is None:
                raise ConfigError(
                    "SWEETIECHAT_SAFETY_THRESHOLD is set, but the fine-tuned layer is off: "
                    "unset it, or turn the layer on (SWEETIECHAT_SAFETY_FINETUNED, the safety "
                    "extra)"
                )
            detector.finetuned.threshold = threshold
        _DEFAULT = detector
    return _DEFAULT


def env_threshold() -> float | None:
    """``SWEETIECHAT_SAFETY_THRESHOLD`` as a number between 0 and 1, or ``None`` when unset.

    Raises:
        ConfigError: when it is set to anything else.
    """
    return _fraction("SWEETIECHAT_SAFETY_THRESHOLD")


def _fraction(name: str) -> float | None:
    """A number between 0 and 1 (exclusive) from the environment; unset or empty: ``None``."""
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not 0.0 < number < 1.0:  # NaN fails too
        raise ConfigError(f"{name}={value!r}: set it to a number between 0 and 1, such as 0.6")
    return number


def _switch(name: str, default: bool) -> bool:
    """An on/off environment variable (``on/off``, ``1/0``, ``true/false``, ``yes/no``;
    ``auto`` or unset: ``default``)."""
    value = os.environ.get(name, "").strip().lower()
    if value in ("", "auto"):
        return default
    if value in ("1", "on", "true", "yes"):
        return True
    if value in ("0", "off", "false", "no"):
        return False
    raise ConfigError(f"{name}={value!r}: set it to on or off")
