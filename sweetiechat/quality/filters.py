"""The rule filters of ``sweetiechat clean``: one dialogue in, a verdict out.

Each filter either *rejects* a dialogue (it lands in ``rejected.jsonl`` with a reason code)
or *repairs* it (it stays, with the repair listed in ``meta.repairs``). The model-based
filters (role inconsistency, off-scenario, near-duplicates, unsafe supporter turns) live in
:mod:`sweetiechat.quality.clean`; this module holds the cheap text rules and the settings.

>>> from sweetiechat.types import Dialogue, Turn
>>> d = Dialogue(id="x", problem_type="Burnout", turns=[Turn(role="seeker", text="Hi.")])
>>> check_rules(d, CleanConfig()).reasons
['too_short']
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sweetiechat.text import split_sentences
from sweetiechat.types import Dialogue, Turn

__all__ = [
    "REASONS",
    "CleanConfig",
    "RuleVerdict",
    "check_rules",
    "cut_closings",
    "is_closing",
    "malformed_profile",
    "malformed_scenario",
]

#: Every reason code, in the order the report lists them.
REASONS = (
    "role_inconsistency",
    "redundant_greetings",
    "too_short",
    "too_long",
    "off_scenario",
    "near_duplicate",
    "malformed_scenario",
    "malformed_profile",
    "unsafe_supporter",
)

Action = Literal["repair", "reject"]


class CleanConfig(BaseModel):
    """Settings of ``sweetiechat clean`` (the TOML ``[clean]`` section uses these names).

    Every filter is on by default; list codes in ``disable`` to switch filters off.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    disable: list[str] = Field(default_factory=list)
    """Reason codes of filters not to run (e.g. ``["off_scenario", "near_duplicate"]``)."""
    min_turns: int = Field(4, ge=1, le=1000)
    """Fewer utterances than this (after repairs): rejected as ``too_short``."""
    max_turns: int = Field(40, ge=2, le=10_000)
    """More utterances than this: cut to this many (``too_long``; see ``long_action``)."""
    long_action: Action = "repair"
    """``repair``: cut a long dialogue; ``reject``: reject it as ``too_long``."""
    max_sentences: int = Field(3, ge=1, le=100)
    """Longer utterances are cut to this many sentences (repair, recorded as ``too_long``)."""
    greetings_action: Action = "repair"
    """``repair``: cut a trailing run of thank-yous/farewells to one exchange; ``reject``:
    reject the dialogue as ``redundant_greetings`` instead."""
    closing_keep: int = Field(2, ge=0, le=20)
    """Utterances of a trailing closing run that are kept (2 = one exchange)."""
    scenario_threshold: float = Field(0.2, ge=-1.0, le=1.0)
    """Cosine similarity (MiniLM) of the dialogue to its scenario below which it is
    ``off_scenario``."""
    dup_threshold: float = Field(0.7, gt=0.0, le=1.0)
    """Estimated Jaccard similarity of word 3-gram sets at which two dialogues are
    near-duplicates (MinHash LSH)."""
    dup_num_perm: int = Field(64, ge=16, le=512)
    """MinHash permutations (more: more exact, slower, more memory)."""
    dup_ngram: int = Field(3, ge=1, le=10)
    """Words per shingle for near-duplicate detection."""
    role_threshold: float | None = Field(None, gt=0.0, lt=1.0)
    """Role-detector probability at which a seeker turn reads as the supporter's; ``None``:
    the detector's own threshold."""
    role_min_turns: int = Field(2, ge=1, le=1000)
    """Seeker turns that must read as the supporter's before a dialogue is rejected (2: one
    thank-you or "how are you?" is no role slide; with 1, half of ESConv's human dialogues
    would go)."""
    role_skip_first: int = Field(0, ge=0, le=1000)
    """Seeker turns at the start not judged (0: judge all)."""
    unsafe_semantic: bool = True
    """Use the crisis detector's MiniLM layer (else its patterns only) for unsafe turns."""
    batch_size: int = Field(256, ge=1, le=100_000)
    """Dialogues read and scored together (bounds memory)."""

    @model_validator(mode="after")
    def _check(self) -> CleanConfig:
        unknown = sorted(set(self.disable) - set(REASONS))
        if unknown:
            raise ValueError(
                f"unknown filter(s) in disable: {', '.join(unknown)}; use {', '.join(REASONS)}"
            )
        if self.min_turns > self.max_turns:
            raise ValueError(
                f"min_turns ({self.min_turns}) is above max_turns ({self.max_turns}); lower it"
            )
        return self

    def on(self, code: str) -> bool:
        """True when the filter ``code`` runs."""
        return code not in self.disable


# -- closings --------------------------------------------------------------------------------

_CLOSING = re.compile(
    r"\b(?:thanks?|thank you|thx|bye|goodbye|good ?night|farewell|take care|see you|talk "
    r"(?:to you )?(?:soon|later)|you'?re (?:very |so )?welcome|my pleasure|any ?time|glad "
    r"(?:i|I) could help|have a (?:good|great|nice|lovely|wonderful) \w+|all the best|best "
    r"of luck|good luck|\[END\])",
    re.IGNORECASE,
)
_SUBSTANCE = re.compile(
    r"\b(?:but|because|although|however|still|worried|afraid|scared|problem|when|why|how)\b",
    re.IGNORECASE,
)


def is_closing(text: str, max_words: int = 30) -> bool:
    """True when ``text`` is only thanks or farewell: a closing phrase, short, and no
    sentence that carries the conversation on (``but``, ``why``, a question ...).

    >>> is_closing("Thank you so much, this really helped. Goodbye! [END]")
    True
    >>> is_closing("Thanks, but I still can't sleep. What should I do?")
    False
    """
    if not _CLOSING.search(text) or len(text.split()) > max_words:
        return False
    for sentence in split_sentences(text):
        if _CLOSING.search(sentence):
            continue
        if "?" in sentence or _SUBSTANCE.search(sentence):
            return False
    return True


def cut_closings(turns: list[Turn], keep: int = 2) -> tuple[list[Turn], int]:
    """Cut a trailing run of closing utterances down to its first ``keep``; returns the turns
    and how many were cut."""
    start = len(turns)
    while start > 0 and is_closing(turns[start - 1].text):
        start -= 1
    run = len(turns) - start
    if run <= keep:
        return turns, 0
    return turns[: start + keep], run - keep


# -- scenario and profile --------------------------------------------------------------------

_WORD = re.compile(r"[A-Za-z']+")
_FIRST = {
    *("i", "i'm", "i've", "i'd", "i'll", "me", "my", "mine", "myself"),
    *("we", "we're", "we've", "we'd", "we'll", "our", "ours", "us", "ourselves"),
}
_SECOND = {"you", "your", "you're", "you've", "yours", "yourself"}
_META = re.compile(
    r"\b(?:story|stories|narrative|scenario|prompt|character|rework|perspective|rewrite|"
    r"example|as an ai|language model|the scene|here'?s|reader|readers|format)\b",
    re.IGNORECASE,
)
_CONSOLING = re.compile(
    r"^\s*(?:i'?m|i am) (?:so |very |really )?(?:sorry to hear|glad (?:you|to hear))|"
    r"\bhow can (?:we|i) help\b|\bplease (?:share|provide|tell)\b",
    re.IGNORECASE,
)
_PERSON = re.compile(
    r"\b(?:\d{1,2}[- ]?(?:years?[- ]old|yo)\b|aged? \d{1,2}|in (?:his|her|their) "
    r"(?:early |mid |late )?(?:teens|twenties|thirties|forties|fifties|sixties|\d0s)|"
    r"man|woman|male|female|boy|girl|mother|father|mom|mum|dad|wife|husband|student|"
    r"nurse|teacher|engineer|worker|manager|retired|retiree|he|she|his|her|they|who)\b",
    re.IGNORECASE,
)
_NAME_AGE = re.compile(r"^[A-Z][a-z]+(?: [A-Z][a-z]+)?,\s*(?:a |an )?\d{1,2}\b")
_PROFILE_META = re.compile(
    r"\b(?:story|prompt|ai assistant|as an ai|language model|example|format|problem can|"
    r"this person|your (?:own )?background)\b",
    re.IGNORECASE,
)


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def malformed_scenario(text: str | None) -> str | None:
    """Why ``text`` is not a first-person account of the seeker's events, or ``None``.

    >>> malformed_scenario("Last month I lost my job and my landlord raised the rent.")
    >>> malformed_scenario("In this story, you can create a compelling narrative.")
    'talks about writing (story)'
    """
    if text is None:
        return None
    words = _words(text)
    if len(words) < 4:
        return f"too short ({len(words)} words)"
    meta = _META.search(text)
    if meta:
        return f"talks about writing ({meta.group(0).lower()})"
    if _CONSOLING.search(text):
        return "consoles or asks the reader instead of telling events"
    first = sum(w in _FIRST for w in words)
    second = sum(w in _SECOND for w in words)
    if first == 0:
        return "not in the first person"
    if second > first:
        return "addresses the reader more than it speaks of itself"
    sentences = split_sentences(text)
    if sum(s.rstrip().endswith("?") for s in sentences) * 2 > len(sentences):
        return "mostly questions"
    return None


def malformed_profile(text: str | None) -> str | None:
    """Why ``text`` describes no person, or ``None``.

    >>> malformed_profile("Maria, 34, a nurse in Leeds who loves long walks.")
    >>> malformed_profile("The story ends here.")
    'talks about writing (story)'
    """
    if text is None:
        return None
    words = _words(text)
    if len(words) < 4:
        return f"too short ({len(words)} words)"
    meta = _PROFILE_META.search(text)
    if meta:
        return f"talks about writing ({meta.group(0).lower()})"
    if _NAME_AGE.search(text.strip()):
        return None
    if text.rstrip().endswith("?"):
        return "a question, not a person"
    if not _PERSON.search(text):
        return "names no person (no name and age, gender, role or occupation)"
    first = sum(w in _FIRST for w in words)
    if first > 0 and first >= sum(w in {"he", "she", "his", "her", "they"} for w in words):
        return "speaks in the first person instead of describing the seeker"
    return None


# -- the rule pass ---------------------------------------------------------------------------


@dataclass
class RuleVerdict:
    """What the rule filters found."""

    dialogue: Dialogue
    """The dialogue after repairs."""
    reasons: list[str] = field(default_factory=list)
    """Reason codes that reject it."""
    repairs: list[dict[str, Any]] = field(default_factory=list)
    """Repairs made: ``{"code", "detail"}``."""
    details: dict[str, str] = field(default_factory=dict)
    """Reason code -> why, in words."""

    def reject(self, code: str, detail: str) -> None:
        """Add a rejection reason."""
        if code not in self.reasons:
            self.reasons.append(code)
            self.details[code] = detail


_TERMINATOR = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s|$)")


def _sentences_over(text: str, limit: int) -> list[str] | None:
    """The sentences of ``text`` when there are more than ``limit``, else ``None``. Texts
    with too few sentence ends to exceed ``limit`` skip the (slow) sentence splitter."""
    stripped = text.strip()
    ends = len(_TERMINATOR.findall(stripped)) + stripped.count("\n")
    if ends + (0 if _TERMINATOR.search(stripped[-3:]) else 1) <= limit:
        return None
    sentences = split_sentences(text)
    return sentences if len(sentences) > limit else None


def check_rules(dialogue: Dialogue, config: CleanConfig) -> RuleVerdict:
    """Run the text rules: sentence and utterance bounds, closings, scenario and profile."""
    turns = list(dialogue.turns)
    verdict = RuleVerdict(dialogue)
    if config.on("too_long"):
        cut = 0
        for i, turn in enumerate(turns):
            sentences = _sentences_over(turn.text, config.max_sentences)
            if sentences is not None:
                text = " ".join(sentences[: config.max_sentences])
                turns[i] = turn.model_copy(update={"text": text})
                cut += 1
        if cut:
            verdict.repairs.append(
                {
                    "code": "too_long",
                    "detail": f"{cut} utterance(s) cut to {config.max_sentences} sentences",
                }
            )
    if config.on("redundant_greetings"):
        kept, removed = cut_closings(turns, config.closing_keep)
        if removed:
            detail = f"{removed} trailing thank-you/farewell utterance(s)"
            if config.greetings_action == "reject":
                verdict.reject("redundant_greetings", detail)
            else:
                turns = kept
                verdict.repairs.append({"code": "redundant_greetings", "detail": "cut " + detail})
    if config.on("too_long") and len(turns) > config.max_turns:
        detail = f"{len(turns)} utterances, more than {config.max_turns}"
        if config.long_action == "reject":
            verdict.reject("too_long", detail)
        else:
            turns = turns[: config.max_turns]
            verdict.repairs.append({"code": "too_long", "detail": f"cut {detail}"})
    if config.on("too_short") and len(turns) < config.min_turns:
        verdict.reject("too_short", f"{len(turns)} utterances, fewer than {config.min_turns}")
    if config.on("malformed_scenario"):
        why = malformed_scenario(dialogue.scenario)
        if why:
            verdict.reject("malformed_scenario", why)
    if config.on("malformed_profile"):
        why = malformed_profile(dialogue.profile)
        if why:
            verdict.reject("malformed_profile", why)
    if verdict.repairs:
        verdict.dialogue = dialogue.model_copy(update={"turns": turns})
    return verdict
