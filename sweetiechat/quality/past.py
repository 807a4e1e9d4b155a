"""Precise-pattern matches that are about the past, which the learned layers decide instead.

"I used to think everyone would be better off without me. that was 2019. now I volunteer on
a listening line" matches a suicide pattern, but its words are about then, not now. When a
match's own sentence names a time in the past and nothing in the message says the risk is
present or back, :class:`~sweetiechat.quality.risk.RiskDetector` lets its learned layers
(which read the message in its context and were trained on recovery talk) decide, as it does
for a toddler's hitting (:func:`~sweetiechat.quality.patterns.context_explains`).

>>> about_the_past("suicidal_ideation", "Last year I wanted to die. Therapy helped a lot.")
True
>>> about_the_past("suicidal_ideation", "Last year I wanted to die and it's back.")
False
>>> about_the_past("suicidal_ideation", "I lost my job last year and I'm going to kill myself")
False
"""

from __future__ import annotations

import re

from sweetiechat.quality.patterns import RELAPSE, match_patterns, strip_figurative

__all__ = ["PAST_TIME", "about_the_past"]

_I = re.IGNORECASE
_NUMBER = (
    r"(?:\d+|a|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|"
    r"several|many|few|some|couple of)"
)
#: A time in the past: "last year", "in 2019", "used to", "as a teenager", "in my twenties",
#: "the anniversary of my overdose".
PAST_TIME = re.compile(
    rf"\b(?:{_NUMBER} (?:years?|decades?) ago|last year|the year before|in (?:19|20)\d\d|"
    r"(?:that|this|it) was (?:in |back in )?(?:19|20)\d\d|back (?:then|in the day)|used to|"
    r"as an? (?:teen\w*|kid|child|student|young \w+)|when i was (?:\d+|young|younger|little|"
    r"a \w+|in \w+|at \w+)|in (?:college|uni|university|high school|secondary school|sixth form|"
    r"my (?:teens|twenties|thirties|20s|30s|youth))|looking back|anniversary of (?:my|the))\b",
    _I,
)
#: Risk said to be present or back, anywhere in the message, keeps a pattern's verdict.
_STILL = re.compile(
    r"\bagain\b|\b(?:it'?s|they'?re|urges?|thoughts?|feelings?|it) (?:are |is |has |have )?"
    r"(?:come )?back\b|\bcoming back\b|\b(?:feel|feeling|felt) (?:\w+ ){0,2}(?:the same|like "
    r"that)\b|\bstill\b(?! (?:here|alive|standing|going strong))",
    _I,
)
#: Present or coming time in the match's clause before it ("I lost my job last year and I'm
#: going to ..."): the words are about now.
_NOW = re.compile(
    r"\b(?:i'?m|im|am|going to|gonna|will|i'?ll|want|wanna|need|now|today|tonight|tomorrow|"
    r"can'?t|cant|keep)\b",
    _I,
)
_SENTENCE_END = re.compile(r"[.!?\n]")
_CLAUSE_END = re.compile(r"[.!?;,\n]|\b(?:and|but|so)\b", _I)


def about_the_past(category: str, text: str) -> bool:
    """True when the precise pattern that fires on ``text`` (of ``category``) is about the past.

    That is: the match's sentence names a past time (:data:`PAST_TIME`); the part of its clause
    before the match has no present or future word ("I'm", "going to", "now", "tonight"); and
    the message has no relapse word (:data:`~sweetiechat.quality.patterns.RELAPSE`, "again",
    "still", "it's back", "I feel the same"). A means question is never about the past.

    Args:
        category: The category the pattern fired for.
        text: The message.

    Returns:
        Whether the learned layers, rather than the pattern, should decide.
    """
    if category == "means_request":
        return False
    hit = match_patterns(text)
    if hit is None or hit[0] != category:
        return False
    plain = strip_figurative(text)
    if RELAPSE.search(plain) or _STILL.search(plain):
        return False
    at = plain.find(hit[1])
    if at < 0:
        return False
    end = at + len(hit[1])
    start = max((m.end() for m in _SENTENCE_END.finditer(plain, 0, at)), default=0)
    after = _SENTENCE_END.search(plain, end)
    sentence = plain[start : after.start() if after else len(plain)]
    if not PAST_TIME.search(sentence):
        return False
    clause = max((m.end() for m in _CLAUSE_END.finditer(plain, start, at)), default=start)
    return not _NOW.search(plain, clause, at)
