"""Cleaning model output into one utterance: role prefixes and quotes stripped, the text cut
where the model starts speaking for someone else, at most 3 sentences (pysbd splits them).

>>> clean_utterance('Supporter: "I hear you. That sounds hard. What happened? Tell me more."')
'I hear you. That sounds hard. What happened?'
>>> clean_utterance("I am so tired.\\nSupporter: I understand.")
'I am so tired.'
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

__all__ = ["clean_utterance", "split_sentences", "truncate_sentences"]

_ROLE_WORDS = (
    r"seeker|supporter|help[- ]?seeker|counsel+or|therapist|assistant|user|system|sender|"
    r"response|reply|answer|scenario|profile"
)
_PREFACE = re.compile(
    r"^\s*(?:sure|okay|ok|certainly|of course|here(?:'s| is| are))\b[^\n:]{0,80}:\s*",
    re.IGNORECASE,
)
_PREFIX = re.compile(
    rf"^\s*(?:[*_#>\-]+\s*)?(?:\[[^\]]{{1,40}}\]\s*)?(?:\(?(?:{_ROLE_WORDS})\)?\s*\d*\s*[*_]*\s*:[*_]*\s*)",
    re.IGNORECASE,
)
_SPEAKER_SWITCH = re.compile(rf"(?:^|\n|\s)[*_]*(?:{_ROLE_WORDS})[*_]*\s*:", re.IGNORECASE)
_TAG = re.compile(r"^\s*\[[^\]]{1,40}\]\s*")
_QUOTES = "\"'“”‘’`"


@cache
def _segmenter() -> Any:
    import pysbd

    return pysbd.Segmenter(language="en", clean=False)


# pysbd knows "me", "no", "ok" ... as abbreviations (Maine, number, Oklahoma) and so misses
# boundaries like "It helps me. I feel calmer." In lower case they end sentences in chat.
_CHAT_WORDS = "me|no|ok|is|ill|may|man|art|fed|min|sec|con|ken|ore|ind|det"
_MISSED_BOUNDARY = re.compile(rf"\b({_CHAT_WORDS})([.!?])\s+(?=[A-Z])")


def split_sentences(text: str) -> list[str]:
    """Split text into sentences with pysbd (a rule-based sentence boundary detector), then
    at the boundaries it misses after lower-case words it takes for abbreviations."""
    out: list[str] = []
    for segment in _segmenter().segment(text):
        marked = _MISSED_BOUNDARY.sub("\\1\\2\x00", segment)
        out.extend(part.strip() for part in marked.split("\x00") if part.strip())
    return out


def truncate_sentences(text: str, limit: int = 3) -> str:
    """Keep the first ``limit`` sentences."""
    sentences = split_sentences(text)
    return " ".join(sentences[:limit]) if len(sentences) > limit else text.strip()


def _strip_quotes(text: str) -> str:
    text = text.strip()
    while len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    if text.count('"') == 1:
        text = text.replace('"', "")
    return text


def clean_utterance(text: str, *, max_sentences: int = 3) -> str:
    """Turn raw model output into one clean utterance (may return ``""``)."""
    text = _PREFACE.sub("", text.replace("\r", "").strip(), count=1)
    # Strip any number of stacked prefixes: "Supporter: [Question] ..."
    for _ in range(3):
        stripped = _TAG.sub("", _PREFIX.sub("", text, count=1), count=1)
        if stripped == text:
            break
        text = stripped
    match = _SPEAKER_SWITCH.search(text)
    if match and match.start() > 0:
        text = text[: match.start()]
    text = text.split("\n\n")[0]
    text = " ".join(_strip_quotes(text).split())
    return truncate_sentences(text, max_sentences) if max_sentences else text
