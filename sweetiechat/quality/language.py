"""Is a message English? The crisis detector reads English only, and flags other languages
conservatively (:mod:`sweetiechat.quality.risk`).

>>> looks_english("I can't sleep anymore")
True
>>> looks_english("ya no quiero vivir, es que no puedo")
False
"""

from __future__ import annotations

import re

__all__ = ["looks_english"]

_EN_WORDS = set(
    "i me my you your the a an and or but to of in on at is are was were be been am it this "
    "that not no do don't dont can can't cant just so what why how with for have has had "
    "feel want im i'm he she they we him her them anymore anything everything nothing".split()
)
_FOREIGN_WORDS = set(
    "que de la el los las y en es no quiero ya mi yo je ne pas suis et le les est mon ich "
    "nicht und der die das bin mich ist mein eu não nao com uma um sono che non mi per il".split()
)
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def looks_english(text: str) -> bool:
    """False when ``text`` is clearly not English (non-Latin script, or foreign function
    words and no English ones); short or mixed text counts as English."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return True
    latin = sum(c.isascii() for c in letters) / len(letters)
    if latin < 0.5:
        return False
    words = [w.lower() for w in _WORD.findall(text)]
    if len(words) < 3:
        return True
    en = sum(w in _EN_WORDS for w in words)
    foreign = sum(w in _FOREIGN_WORDS for w in words)
    return not (foreign >= 2 and foreign > 2 * en)
