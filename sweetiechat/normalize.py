"""ESConv normalisation used for dataset statistics (docs/method.md, "Dataset statistics"):
merge consecutive utterances of one speaker, drop the opening greetings.

>>> is_greeting("Hi, how are you doing today?")
True
>>> is_greeting("Hi, I lost my job today.")
False
"""

from __future__ import annotations

import re

from sweetiechat.types import Dialogue

__all__ = ["drop_opening_greetings", "is_greeting", "normalise"]

#: An utterance made only of these words (at most 12 of them) is a greeting.
GREETING_WORDS = frozenset(
    """hi hello hey hiya heya howdy there good morning afternoon evening day night tonight
    how are you doing today is it going im i'm i am fine ok okay well great good thanks thank
    and yourself your you too nice to meet hope doing very much pretty not bad so what's up
    whats wassup greetings dear friend glad here""".split()
)


def is_greeting(text: str) -> bool:
    """True when ``text`` is a bare greeting or pleasantry ("Hello!", "I'm good, you?")."""
    words = re.findall(r"[a-z']+", text.lower())
    return 0 < len(words) <= 12 and all(w in GREETING_WORDS for w in words)


def drop_opening_greetings(dialogue: Dialogue) -> Dialogue:
    """Drop the leading turns that are only greetings (never the whole dialogue)."""
    turns = dialogue.turns
    start = 0
    while start < len(turns) - 1 and is_greeting(turns[start].text):
        start += 1
    return dialogue.model_copy(update={"turns": turns[start:]})


def normalise(dialogue: Dialogue, *, merge_consecutive: bool, drop_greetings: bool) -> Dialogue:
    """Apply the paper's ESConv normalisation steps that are switched on."""
    if drop_greetings:
        dialogue = drop_opening_greetings(dialogue)
    if merge_consecutive:
        dialogue = dialogue.merge_consecutive()
    return dialogue
