"""Crisis handling: one API for detecting risk in a seeker's words and answering it safely.

The work is done in :mod:`sweetiechat.quality` (the layered detector, the reply check, the
templates and the crisis resources); this module gathers the names the engine, the CLI and
users need. See ``docs/safety.md``.

>>> detect_crisis("Sometimes I think everyone would be better off if I was dead.")
True
>>> detect_crisis("This deadline is killing me.")
False
"""

from __future__ import annotations

from collections.abc import Iterable

from sweetiechat.quality.guard import (
    SAFETY_EVENTS,
    SafetyGuard,
    adialogue_safety_meta,
    dialogue_safety_meta,
)
from sweetiechat.quality.replies import (
    ReplyCheck,
    UnsafeTurn,
    check_reply,
    crisis_template,
    unsafe_supporter_turns,
)
from sweetiechat.quality.resources import CrisisResources, load_resources
from sweetiechat.quality.risk import RiskAssessment, RiskDetector, default_detector
from sweetiechat.types import Turn

__all__ = [
    "CRISIS_INSTRUCTION",
    "SAFETY_EVENTS",
    "CrisisResources",
    "ReplyCheck",
    "RiskAssessment",
    "RiskDetector",
    "SafetyGuard",
    "UnsafeTurn",
    "adialogue_safety_meta",
    "assess",
    "check_reply",
    "crisis_template",
    "default_detector",
    "detect_crisis",
    "dialogue_safety_meta",
    "load_resources",
    "seeker_in_crisis",
    "unsafe_supporter_turns",
]

#: The general crisis protocol (the guard writes a category-specific one with the locale's
#: resources; see :meth:`SafetyGuard.instruction`).
CRISIS_INSTRUCTION = (
    "\nSafety first: the seeker has mentioned self-harm or suicidal thoughts. Take it "
    "seriously and stay calm and caring. Gently ask whether they are safe right now, and "
    "encourage them to reach a crisis line or emergency services (for example 988 in the US, "
    "116 123 in the UK, or the local emergency number) or someone they trust. Never give "
    "information that could be used for self-harm.\n"
)


def assess(text: str, context: Iterable[str] = ()) -> RiskAssessment:
    """The shared detector's assessment of ``text`` after the seeker's earlier ``context``."""
    return default_detector().assess(text, list(context))


def detect_crisis(text: str) -> bool:
    """True when ``text`` signals suicide, self-harm, danger from others or a means request."""
    return default_detector().assess(text).risk


def seeker_in_crisis(turns: Iterable[Turn]) -> bool:
    """True when any seeker turn, read in its context, signals risk."""
    return default_detector().dialogue_risk(list(turns)).risk
