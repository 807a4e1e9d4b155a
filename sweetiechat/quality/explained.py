"""Precise-pattern matches that the learned layers decide instead: words about the past, a
small child, a pet, a goodbye letter for a retirement or a therapist's exercise, sleeping in.

A precise pattern is explicit wording, but some messages use it about something else. "I used
to think everyone would be better off without me. that was 2019. now I volunteer on a
listening line" is about then, not now; "He hit me." after "My 3 year old is going through a
hitting phase" is about a toddler; "what's a lethal dose?" after "our dog just ate a bar of
chocolate" is about the dog. In these narrow cases
:class:`~sweetiechat.quality.risk.RiskDetector` sets the pattern aside and lets its learned
layers (which read the message in its context) decide.

>>> about_the_past("suicidal_ideation", "Last year I wanted to die. Therapy helped.",
...                "wanted to die")
True
>>> about_the_past("suicidal_ideation", "Last year I wanted to die and it's back.",
...                "wanted to die")
False
>>> about_the_past("suicidal_ideation", "I lost my job last year and I'm going to kill myself",
...                "kill myself")
False
>>> context_explains("harm_from_others", "He hit me.", ["My 3 year old is in a hitting phase"])
True
"""

from __future__ import annotations

import re

from sweetiechat.quality.patterns import CUES, RELAPSE, match_patterns, strip_figurative

__all__ = ["PAST_TIME", "about_the_past", "context_explains"]

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


def about_the_past(category: str, text: str, words: str) -> bool:
    """True when the precise pattern that fired on ``text`` (``category``, matching ``words``,
    as :func:`~sweetiechat.quality.patterns.match_patterns` returns them) is about the past.

    That is: the match's sentence names a past time (:data:`PAST_TIME`); the part of its clause
    before the match has no present or future word ("I'm", "going to", "now", "tonight"); and
    the message has no relapse word (:data:`~sweetiechat.quality.patterns.RELAPSE`, "again",
    "still", "it's back", "I feel the same"). A means question is never about the past.

    Args:
        category: The category the pattern fired for.
        text: The message.
        words: The words the pattern matched.

    Returns:
        Whether the learned layers, rather than the pattern, should decide.
    """
    if category == "means_request":
        return False
    plain = strip_figurative(text)
    if RELAPSE.search(plain) or _STILL.search(plain):
        return False
    at = plain.find(words)
    if at < 0:
        return False
    end = at + len(words)
    start = max((m.end() for m in _SENTENCE_END.finditer(plain, 0, at)), default=0)
    after = _SENTENCE_END.search(plain, end)
    sentence = plain[start : after.start() if after else len(plain)]
    if not PAST_TIME.search(sentence):
        return False
    clause = max((m.end() for m in _CLAUSE_END.finditer(plain, start, at)), default=start)
    return not _NOW.search(plain, clause, at)


#: A small child or an animal named in the earlier turns, and the adults a "he" or "she" could
#: be instead (the later mention wins).
_SMALL_CHILD = re.compile(
    r"\b(?:toddler|baby|infant|newborn|(?:[1-4]|one|two|three|four)[- ]?(?:year|yr)s?[- ]old)\b",
    _I,
)
_ADULT = re.compile(
    r"\b(?:husband|wife|partner|boyfriend|girlfriend|bf|gf|ex|dad|father|stepdad|mum|mom|"
    r"mother|brother|sister|uncle|aunt|boss|roommate|flatmate|landlord|man|woman|guy|he'?s \d\d)\b",
    _I,
)
_ANIMAL = (
    r"\b(?:dog|puppy|cat|kitten|pet|rabbit|hamster|horse|beagle|labrador|lab|terrier|spaniel|"
    r"collie|poodle|parrot|budgie|guinea pig)\b"
)
_ANIMAL_ATE = re.compile(
    r"(?:\b(?:my|our|the) )?" + _ANIMAL + r"[^.!?]{0,60}\b(?:ate|eaten|eats|swallowed|got into|"
    r"chewed|licked|drank)\b",
    _I,
)
#: A pet being put down: a goodbye or a letter in the next turn is the pet's.
_PET_PUT_DOWN = re.compile(
    r"\b(?:put (?:her|him|them|it) down|put (?:to )?sleep|let (?:her|him|them) go|euthan\w*|"
    r"vet)\b",
    _I,
)
_OWN = re.compile(r"\b(?:i|i'?m|im|me|my|myself|mine)\b", _I)
#: A goodbye letter or note (the suicide pattern's words) ...
_GOODBYE_LETTER = re.compile(
    r"\b(?:goodbye|farewell) (?:letters?|notes?|messages?)\b"
    r"|\b(?:letters?|notes?) to say goodbye\b",
    _I,
)
#: ... written for a retirement or a leaving do (in the message or the last two turns) ...
_LEAVING_DO = re.compile(
    r"\b(?:retirement (?:do|party|card|speech|lunch|newsletter)|(?:staff|team|school|company|"
    r"office|work) newsletter|(?:(?:i'?m|i am|am|i will be|i'?ll be) )?retiring (?:from|at|on|"
    r"in|next|this|after)\b|(?:leaving|farewell) (?:do|party|card|speech|lunch))\b",
    _I,
)
#: ... or as a therapist's exercise that is never sent (both in the message) ...
_THERAPY_SET = re.compile(
    r"\b(?:therapist|counsell?or|psychologist)\b[^.!?]{0,40}\b(?:told|asked|suggested|said|"
    r"set|recommended)\b|\b(?:told|asked|suggested|recommended) by (?:my )?(?:therapist|"
    r"counsell?or|psychologist)\b",
    _I,
)
_UNSENT = re.compile(
    r"\b(?:never|not) (?:going to |gonna )?(?:send|be sent|getting sent)\b|"
    r"\bwon'?t (?:ever )?(?:send|be sent)\b|\bunsent\b|\bnot to send\b",
    _I,
)
#: ... "I don't want to wake up" for sleeping in: before a clock time, early for, for work ...
_SLEEPING_IN = re.compile(
    r"\b(?:don'?t|do not|dont|not) (?:want to|wanna|wish to) wake up (?:before (?:\d|noon|"
    r"midday|lunch|nine|ten|eleven|my alarm)|early (?:for|tomorrow)|at \d|for (?:work|school|"
    r"class|uni|college))",
    _I,
)
#: ... and none of these in the message or the last two turns: despair, an ending, a time
#: beyond the ordinary one, being found.
_DESPAIR = re.compile(
    r"\b(?:miss me|better off|the end|i'?m done|done with|can'?t (?:do|take|go on|cope|face|"
    r"keep)|anymore|any more|any (?:other |\w+ )?(?:day|morning)|ever|never|again|at all|for good|"
    r"forever|around|why i did|gone|be found|find (?:them|it|me)|found|waste of|burden|"
    r"(?:nobody|no one) (?:cares|would|will|loves|needs|notices|wants)|this world|this life|"
    r"existence|whole thing|disappointment|fired|hate (?:me|myself)|"
    r"worthless|alone|everyone|everything|understand why|forgive me|sorry for|stop|over|pills?|"
    r"took|asleep|sleep|wake|die|dead|dying|pain|end|ending)\b",
    _I,
)


def _ordinary_reading(
    text: str, context: list[str] | tuple[str, ...], words: re.Pattern[str]
) -> bool:
    """True when nothing but ``words`` speaks of risk: the rest of the message has no risk
    pattern, no cue (a means, a time, "ready") and no word of despair, and neither of the last
    two turns has a risk pattern, a cue or such a word."""
    rest = words.sub(" ", text)
    recent = list(context[-2:])
    return (
        match_patterns(rest) is None
        and not CUES.search(rest)
        and not _DESPAIR.search(rest)
        and not any(match_patterns(t) or CUES.search(t) or _DESPAIR.search(t) for t in recent)
    )


def _ordinary_goodbye(text: str, context: list[str] | tuple[str, ...]) -> bool:
    """A goodbye letter written for a retirement or a leaving do, or a therapist's exercise
    that is never sent, and nothing else that speaks of risk (:func:`_ordinary_reading`)."""
    if not _GOODBYE_LETTER.search(text):
        return False
    reason = _LEAVING_DO.search(" ".join([text, *context[-2:]])) or (
        _THERAPY_SET.search(text) and _UNSENT.search(text)
    )
    leftover = _UNSENT.sub(" ", _THERAPY_SET.sub(" ", text))  # "never" is the exercise's word
    return bool(reason) and _ordinary_reading(leftover, context, _GOODBYE_LETTER)


def context_explains(category: str, text: str, context: list[str] | tuple[str, ...]) -> bool:
    """True when the earlier turns (or, for a dose question, the message itself) show that a
    precise pattern's words are about a small child or an animal, so the learned layers, which
    read the context, should decide instead.

    Three cases, all narrow: "He hit me." when the last person named in the last two turns is
    a toddler ("My 3 year old is going through a hitting phase"; not when an adult is named
    after the child); a dose question without a first-person word after an animal that ate
    something ("how much is a lethal dose??" after "our dog just ate a bar of chocolate"), or
    with the animal in the same message ("lethal dose of chocolate for a dog, my lab just ate
    half a block": no first-person word outside "my lab just ate"); and a suicide pattern (a
    goodbye letter) when the last two turns name a pet being put down, or when the letter is
    for a retirement or a leaving do named in the message or the last two turns ("I wrote my
    goodbye letter this evening." after "I'm retiring from the school at Easter" and "the
    staff newsletter"), or a therapist's exercise never sent ("writing a goodbye letter to my
    ex that i'll never send, my therapist told me to"), or "I don't want to wake up" is about
    sleeping in ("before noon tomorrow", "early for work"); in these three, only when nothing
    else in the message or the last two turns speaks of risk (a risk pattern, a cue, a word of
    despair, an ending, "ever", "again").
    """
    if category == "means_request" and _ANIMAL_ATE.search(text):
        return not _OWN.search(_ANIMAL_ATE.sub(" ", text))
    recent = " ".join(context[-2:])
    if category == "suicidal_ideation" and (
        _ordinary_goodbye(text, context)
        or (_SLEEPING_IN.search(text) and _ordinary_reading(text, context, _SLEEPING_IN))
    ):
        return True
    if not recent:
        return False
    if category == "harm_from_others":
        child = max((m.end() for m in _SMALL_CHILD.finditer(recent)), default=-1)
        adult = max((m.end() for m in _ADULT.finditer(recent)), default=-1)
        return child > adult and len(text.split()) <= 12
    if category == "means_request":
        return bool(_ANIMAL_ATE.search(recent)) and not _OWN.search(text)
    if category == "suicidal_ideation":
        return bool(re.search(_ANIMAL, recent, _I) and _PET_PUT_DOWN.search(recent))
    return False
