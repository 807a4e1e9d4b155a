"""Safe replies: the supporter's side of crisis handling.

:class:`SafetyGuard` reads the seeker's turns with the risk detector, gives the supporter
instructions for the detected category (with the locale's crisis resources), checks each
reply with :func:`~sweetiechat.quality.replies.check_reply`, has a failing reply regenerated,
and after ``max_tries`` failures answers with a vetted template. Each regeneration or template
is recorded as an event; :class:`~sweetiechat.conversation.Conversation` collects the events
of a dialogue into ``meta.safety`` through :data:`SAFETY_EVENTS`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweetiechat.quality.replies import check_reply, crisis_template
from sweetiechat.quality.resources import CrisisResources, load_resources, resource_line
from sweetiechat.quality.risk import RiskAssessment, RiskDetector, default_detector
from sweetiechat.types import Turn

__all__ = [
    "SAFETY_EVENTS",
    "SafetyGuard",
    "adialogue_safety_meta",
    "dialogue_safety_meta",
    "safety_reply_counts",
]

_ENCODER_LOCK = threading.Lock()

#: The reply used when a dialogue without risk gets no reply that passes the check.
NEUTRAL_REPLY = (
    "I'm here and listening. Could you tell me a little more about how this has been for you?"
)

#: The safety events of the dialogue being played (set by the conversation; ``None`` outside).
SAFETY_EVENTS: ContextVar[list[dict[str, Any]] | None] = ContextVar(
    "sweetiechat_safety_events", default=None
)

_WHAT = {
    "suicidal_ideation": "thoughts of suicide or of not wanting to live",
    "self_harm": "hurting themselves",
    "harm_from_others": "danger from another person",
    "means_request": "a request for a way or means to harm themselves",
}
_EXTRA = {
    "means_request": " Do not answer the question and give no detail about any method, dose, "
    "place or object; say kindly that you can't help with that and turn to how they are.",
    "harm_from_others": " Ask whether they are safe from that person right now; if they are in "
    "danger, urge them to call the emergency number {emergency}.",
    "self_harm": " Ask whether they are hurt or need medical care now.",
    "suicidal_ideation": " Ask directly whether they are thinking of ending their life and "
    "whether they are safe right now.",
}


@dataclass
class SafetyGuard:
    """Crisis handling for a supporter agent.

    Args:
        detector: the risk detector; default: the shared one (patterns + MiniLM).
        resources: the crisis resources to point to; default: ``locale`` from
            ``resources_file`` (the shipped file, US, when both are unset).
        locale: e.g. ``"en-GB"``.
        resources_file: a JSON file with the shipped file's shape.
        max_tries: replies generated before the template is used (the ``k`` of the check).
    """

    detector: RiskDetector | None = None
    resources: CrisisResources | None = None
    locale: str | None = None
    resources_file: str | Path | None = None
    max_tries: int = 3
    _resources: CrisisResources | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_tries < 1:
            raise ValueError("max_tries must be at least 1")
        self._resources = self.resources or load_resources(self.resources_file, self.locale)

    @property
    def crisis_resources(self) -> CrisisResources:
        """The resources replies point to."""
        assert self._resources is not None
        return self._resources

    def _detector(self) -> RiskDetector:
        return self.detector or default_detector()

    def assess(self, turns: Sequence[Turn]) -> RiskAssessment:
        """The risk the supporter must handle: the last seeker turn's (read in context), else
        the first earlier risky one, so the protocol stays on for the rest of the dialogue."""
        return self.assess_for_reply(turns)[0]

    def assess_for_reply(self, turns: Sequence[Turn]) -> tuple[RiskAssessment, RiskAssessment]:
        """(for the instructions, for the reply check). The instructions follow
        :meth:`assess`; the check demands acknowledgement and safety or help only when the
        last seeker turn is risky, and otherwise only rejects method information (strictly,
        when the dialogue held a means request)."""
        return _pick(self._detector().assess_turns(turns))

    async def aassess_for_reply(
        self, turns: Sequence[Turn]
    ) -> tuple[RiskAssessment, RiskAssessment]:
        """:meth:`assess_for_reply` inside an event loop. The encoder runs in a worker thread
        (one at a time), so concurrent dialogues keep going while it works; with a model
        check configured, that check is awaited on the loop."""
        detector = self._detector()
        if getattr(detector, "model", None) is not None:
            return _pick(await detector.aassess_turns(turns))

        def assess() -> list[RiskAssessment]:
            with _ENCODER_LOCK:  # tokenizers and torch modules are not shared across threads
                return detector.assess_turns(turns)

        return _pick(await asyncio.to_thread(assess))

    def instruction(self, assessment: RiskAssessment) -> str:
        """The lines added to the supporter's instructions ("" without risk)."""
        if not assessment.risk:
            return ""
        r = self.crisis_resources
        extra = _EXTRA.get(assessment.category, "").format(emergency=r.emergency)
        return (
            f"\nSafety first: the seeker's words suggest {_WHAT.get(assessment.category, 'risk')}"
            ". Take it seriously and stay calm and caring: acknowledge what they said, gently "
            f"ask whether they are safe right now, and encourage them to reach a crisis line: "
            f"{resource_line(r)}"
            f", or someone they trust.{extra} Never give information that could be used for "
            "self-harm.\n"
        )

    def template(self, assessment: RiskAssessment) -> str:
        """The vetted reply for the assessed category."""
        return crisis_template(assessment.category, self.crisis_resources)

    async def areply(
        self,
        generate: Callable[[], Awaitable[str]],
        assessment: RiskAssessment,
        turn_index: int,
    ) -> tuple[str, bool]:
        """A checked reply: ``(text, used_template)``.

        Calls ``generate`` up to :attr:`max_tries` times until a reply passes the check, then
        falls back to :meth:`template`. Regenerations and templates are recorded in
        :data:`SAFETY_EVENTS` when a dialogue is collecting them.
        """
        problems: list[list[str]] = []
        for _ in range(self.max_tries):
            text = await generate()
            verdict = check_reply(text, assessment)
            if verdict.ok:
                if problems:
                    _record(turn_index, assessment, "regenerated", problems)
                return text, False
            problems.append(verdict.problems)
        _record(turn_index, assessment, "template", problems)
        if not assessment.risk and assessment.category == "none":
            return NEUTRAL_REPLY, True  # no risk in the dialogue: no crisis template either
        return self.template(assessment), True


def _pick(assessments: Sequence[RiskAssessment]) -> tuple[RiskAssessment, RiskAssessment]:
    """(for the instructions, for the reply check) from the seeker turns' assessments."""
    if not assessments:
        none = RiskAssessment(False, "none", 0.0, "none")
        return none, none
    if assessments[-1].risk:
        instruct = check = assessments[-1]
    else:
        earlier = next((a for a in assessments if a.risk), None)
        if earlier is None:
            return assessments[-1], assessments[-1]
        instruct = earlier
        check = RiskAssessment(False, earlier.category, earlier.score, earlier.layer)
    if any(a.risk and a.category == "means_request" for a in assessments):
        # Once a seeker asked for means, every later reply is checked strictly for them.
        check = RiskAssessment(check.risk, "means_request", check.score, check.layer)
    return instruct, check


def _record(turn: int, a: RiskAssessment, outcome: str, problems: list[list[str]]) -> None:
    events = SAFETY_EVENTS.get()
    if events is not None:
        events.append(
            {
                "turn": turn,
                "category": a.category,
                "outcome": outcome,
                "failed_tries": len(problems),
                "problems": problems,
            }
        )


def safety_reply_counts(events: Sequence[dict[str, Any]]) -> dict[str, int]:
    """How many supporter replies were regenerated after a failed check, and how many fell
    back to the vetted template: ``{"regenerated": n, "templates": m}``.

    >>> safety_reply_counts([{"outcome": "regenerated"}, {"outcome": "template"}])
    {'regenerated': 1, 'templates': 1}
    """
    return {
        "regenerated": sum(e.get("outcome") == "regenerated" for e in events),
        "templates": sum(e.get("outcome") == "template" for e in events),
    }


def dialogue_safety_meta(
    turns: Sequence[Turn],
    events: Sequence[dict[str, Any]] = (),
    detector: RiskDetector | None = None,
) -> dict[str, Any] | None:
    """``meta.safety`` of a dialogue: the first risky seeker turn (index, category, layer,
    score) and the reply events; ``None`` when there is neither."""
    det = detector or default_detector()
    seeker_idx = [i for i, t in enumerate(turns) if t.role == "seeker"]
    first = next(
        ((i, a) for i, a in zip(seeker_idx, det.assess_turns(turns), strict=True) if a.risk),
        None,
    )
    if first is None and not events:
        return None
    out: dict[str, Any] = {"events": list(events), **safety_reply_counts(events)}
    if first is not None:
        i, a = first
        out.update(turn=i, category=a.category, layer=a.layer, score=round(a.score, 4))
    return out


async def adialogue_safety_meta(
    turns: Sequence[Turn],
    events: Sequence[dict[str, Any]] = (),
    detector: RiskDetector | None = None,
) -> dict[str, Any] | None:
    """:func:`dialogue_safety_meta` from inside an event loop: the encoder runs in a worker
    thread, one at a time (as the guard's does), so other dialogues keep going."""

    def compute() -> dict[str, Any] | None:
        with _ENCODER_LOCK:
            return dialogue_safety_meta(turns, events, detector)

    return await asyncio.to_thread(compute)
