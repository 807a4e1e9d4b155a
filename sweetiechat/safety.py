"""Crisis handling: detect self-harm and suicide risk in a seeker's words.

When a seeker's utterance signals risk, the supporter is told to respond to it deliberately
(take it seriously, ask about safety, point to crisis help) and the dialogue is flagged in
``meta.crisis``, so datasets can be filtered or audited.

>>> detect_crisis("Sometimes I think everyone would be better off if I was dead.")
True
>>> detect_crisis("This deadline is killing me.")
False
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sweetiechat.types import Turn

__all__ = ["CRISIS_INSTRUCTION", "detect_crisis", "seeker_in_crisis"]

_PATTERNS = [
    r"\bsuicid\w*",
    r"\bkill(?:ing)? my ?self\b",
    r"\bend(?:ing)? it all\b",
    r"\bend(?:ing)? my (?:own )?life\b",
    r"\btake my (?:own )?life\b",
    r"\b(?:hurt|harm|cut|cutting|burn)(?:ing)? my ?self\b",
    r"\bself[- ]?harm\w*",
    r"\boverdos\w*",
    r"\b(?:don'?t|do not) want to (?:live|be alive|exist|wake up)\b",
    r"\bbetter off (?:dead|without me)\b",
    r"\bbetter off if i (?:was|were|wasn'?t|weren'?t) (?:dead|here|around|alive)\b",
    r"\b(?:wish|want) (?:i was|i were|to be) dead\b",
    r"\b(?:want|wanted|wanting|going) to die\b",
    r"\bwish i (?:was|were|had) never (?:been )?born\b",
    r"\bno (?:reason|point) (?:to|in) (?:live|living|go on|going on)\b",
]
_CRISIS = re.compile("|".join(_PATTERNS), re.IGNORECASE)

#: Added to the supporter's instructions when the seeker signals crisis risk.
CRISIS_INSTRUCTION = (
    "\nSafety first: the seeker has mentioned self-harm or suicidal thoughts. Take it "
    "seriously and stay calm and caring. Gently ask whether they are safe right now, and "
    "encourage them to reach a crisis line or emergency services (for example 988 in the US, "
    "116 123 in the UK, or the local emergency number) or someone they trust. Never give "
    "information that could be used for self-harm.\n"
)


def detect_crisis(text: str) -> bool:
    """True when ``text`` mentions suicide, self-harm or a wish to die."""
    return bool(_CRISIS.search(text))


def seeker_in_crisis(turns: Iterable[Turn]) -> bool:
    """True when any seeker turn signals crisis risk."""
    return any(t.role == "seeker" and detect_crisis(t.text) for t in turns)
