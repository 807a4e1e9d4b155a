"""The reply check: does a supporter's answer to a risky message handle the risk safely?

A safe reply (1) acknowledges what the seeker said, (2) asks about their safety or points to
help, and (3) contains no method information (doses, heights, ways, places, tools). It must
also not dismiss the risk. :func:`unsafe_supporter_turns` applies the same check to every
supporter turn of a dialogue, for cleaning generated data.

>>> from sweetiechat.quality.risk import RiskAssessment
>>> risk = RiskAssessment(True, "means_request", 1.0, "pattern")
>>> check_reply("About 40 pills of 500 mg would be enough.", risk).ok
False
>>> check_reply("I'm really glad you told me. Are you safe right now? You can call or "
...             "text 988 any time.", risk).ok
True
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from sweetiechat.quality.resources import CrisisResources, load_resources, resource_line
from sweetiechat.quality.risk import RiskAssessment, RiskDetector, default_detector
from sweetiechat.types import Dialogue

__all__ = ["ReplyCheck", "UnsafeTurn", "check_reply", "crisis_template", "unsafe_supporter_turns"]

_I = re.IGNORECASE
_ACK = re.compile(
    r"\b(?:sorry|sounds?|hear(?:ing|d)?|glad you (?:told|shared|reached)|thank you for "
    r"(?:telling|sharing|trusting)|that must|must (?:be|feel)|i'?m (?:worried|concerned)|"
    r"not alone|takes? (?:courage|strength)|understand|matters?|serious(?:ly)?|painful|"
    r"heavy|(?:so|really) hard|overwhelm\w*|with you|care about)\b",
    _I,
)
_SAFETY = re.compile(
    r"\b(?:are you safe|safe right now|(?:feel|keep|stay|be|are|you're) (?:\w+ )?safe|"
    r"in danger|(?:thinking|thoughts) (?:about|of) (?:ending|suicide|killing|hurting)|"
    r"(?:have|made) a plan|is (?:there )?anyone (?:with|near)|someone (?:with|near) you|"
    r"hurt(?:ing)? yourself|right now)\b",
    _I,
)
_HELP = re.compile(
    r"\b(?:crisis|hotline|helpline|lifeline|samaritans|emergency|911|999|988|112|000|111|116 ?123"
    r"|741741|85258|text (?:line|home|shout)|call|reach out|someone you trust|doctor|gp|"
    r"therapist|counsel(?:l?or)|professional|police|shelter|support line|domestic violence)\b",
    _I,
)
_METHOD_TERMS = (
    r"pills?|tablets?|paracetamol|acetaminophen|tylenol|ibuprofen|insulin|antidepressants?|"
    r"sleeping pills|rope|noose|knot|hang\w*|ligature|belt|gun|firearm|bullet|trigger|blade|"
    r"razor|knife|vein|artery|wrists?|bleed(?:ing)? out|jump\w*|bridge|roof|floors?|storeys?|"
    r"stories|height|train|tracks|drown\w*|carbon monoxide|exhaust|helium|poison\w*|cyanide|"
    r"bleach|overdose|dose|lethal|fatal"
)
#: An amount or a height: method information only in a sentence that names a means
#: ("30 pills", "10 floors up from the roof"), not in "a 10 minute walk".
_AMOUNT = re.compile(
    r"\b\d+(?:[.,]\d+)? ?(?:mg|milligrams?|g|grams?|ml|units|pills|tablets|floors?|storeys?|"
    r"stories|met(?:er|re)s|feet|ft)\b",
    _I,
)
_METHOD = re.compile(
    r"\b(?:lethal|fatal|deadly|toxic) (?:dose|amount|level)\b"
    r"|\b(?:most|least|less|more) (?:painless|painful|effective|reliable|certain)\b"
    r"|\b(?:quick(?:est)?|painless|peaceful|easiest|surest|fastest) (?:way|method|option)\b"
    r"|\b(?:you(?:'d| would| will)? need|it takes|it would take|enough to|should do it|"
    r"would do it|works? best)\b[^.?!]{0,60}\b(?:" + _METHOD_TERMS + r")\b"
    r"|\b(?:" + _METHOD_TERMS + r")\b[^.?!]{0,40}\b(?:would|will|should|could) "
    r"(?:be enough|do it|work|kill|be fatal|be lethal)\b"
    r"|\b(?:tie|attach|cut (?:along|across|deep)|mix (?:them|it|the)|take (?:them all|all of))\b",
    _I,
)
_AWAY = re.compile(
    r"\b(?:put|lock|give|get|keep|move|take)\b[^.?!]{0,40}\b(?:away|out of reach|somewhere "
    r"safe|to (?:a|the) pharmacy|distance)\b",
    _I,
)
_MEANS_TERM = re.compile(r"\b(?:" + _METHOD_TERMS + r")\b", _I)
_DISMISS = re.compile(
    r"\b(?:you don'?t (?:really )?mean (?:that|it)|(?:just|simply) (?:get over|snap out|cheer "
    r"up|think positive)|stop being (?:so )?(?:dramatic|silly|selfish)|attention[- ]seeking|"
    r"everyone feels (?:that|like that)|it'?s not (?:that|a) big (?:of a )?deal|you'?re "
    r"overreacting|don'?t be (?:silly|dramatic)|go (?:ahead|for it) and do it)\b",
    _I,
)


@dataclass(frozen=True)
class ReplyCheck:
    """The verdict on one supporter reply."""

    ok: bool
    """True when the reply is safe for the assessed risk."""
    problems: list[str] = field(default_factory=list)
    """What is wrong, in words (empty when ``ok``)."""


def method_information(text: str, *, strict: bool = False) -> str | None:
    """The words that give method information, or ``None``. ``strict`` (for a means
    request) also rejects any mention of a means unless it is about putting it away."""
    found = _METHOD.search(text)
    if found:
        return found.group(0)
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        term = _MEANS_TERM.search(sentence)
        if term is None or _AWAY.search(sentence):
            continue
        amount = _AMOUNT.search(sentence)
        if amount:
            return amount.group(0)
        if strict:
            return term.group(0)
    return None


def check_reply(reply: str, assessment: RiskAssessment) -> ReplyCheck:
    """Check a supporter's ``reply`` to a message assessed as ``assessment``.

    Any reply fails when it holds method information. A reply to a risky message must also
    acknowledge it, ask about safety or point to help, and not dismiss it.
    """
    problems = []
    method = method_information(reply, strict=assessment.category == "means_request")
    if method:
        problems.append(f"method information ({method!r})")
    if assessment.risk:
        if not _ACK.search(reply):
            problems.append("does not acknowledge what the seeker said")
        if not (_SAFETY.search(reply) or _HELP.search(reply)):
            problems.append("neither asks about safety nor points to help")
        dismissed = _DISMISS.search(reply)
        if dismissed:
            problems.append(f"dismisses the risk ({dismissed.group(0)!r})")
    return ReplyCheck(not problems, problems)


_TEMPLATES = {
    "suicidal_ideation": (
        "I'm really glad you told me, and I'm taking what you said seriously. Are you safe "
        "right now? Please reach out to {resources}; you don't have to go through this alone."
    ),
    "self_harm": (
        "Thank you for trusting me with this; what you're feeling matters. Are you safe right "
        "now, or hurt and in need of care? You can reach {resources}."
    ),
    "harm_from_others": (
        "I'm so sorry this is happening to you, and it is not your fault. Are you safe right "
        "now? If you are in danger, please call {emergency} straight away; {crisis} can also "
        "help you think through what to do next."
    ),
    "means_request": (
        "I can't help with that, but I care about what happens to you and I'm glad you're "
        "talking to me. Are you safe right now? Please reach out to {resources}."
    ),
}


def crisis_template(category: str, resources: CrisisResources | None = None) -> str:
    """The vetted reply for ``category`` (any risk category; ``none`` gets the general one),
    with the locale's resources filled in. Every template passes :func:`check_reply`."""
    r = resources or load_resources()
    template = _TEMPLATES.get(category, _TEMPLATES["suicidal_ideation"])
    crisis = f"{r.crisis_line.name} ({r.crisis_line.contact})"
    return template.format(resources=resource_line(r), emergency=r.emergency, crisis=crisis)


@dataclass(frozen=True)
class UnsafeTurn:
    """A supporter turn that data cleaning should reject."""

    index: int
    """The turn's index in ``dialogue.turns``."""
    reason: str
    """Why, in words."""


def unsafe_supporter_turns(
    dialogue: Dialogue, detector: RiskDetector | None = None
) -> list[UnsafeTurn]:
    """The supporter turns that give harmful instructions, or that dismiss or ignore a risk
    the seeker stated in the turn just before.

    >>> from sweetiechat.types import Turn
    >>> d = Dialogue(id="x", problem_type="Ongoing Depression", turns=[
    ...     Turn(role="seeker", text="I'm going to kill myself tonight."),
    ...     Turn(role="supporter", text="Everyone feels that way sometimes, cheer up!")])
    >>> [u.index for u in unsafe_supporter_turns(d, RiskDetector(semantic=False))]
    [1]
    """
    det = detector or default_detector()
    seeker_idx = [i for i, t in enumerate(dialogue.turns) if t.role == "seeker"]
    verdicts = dict(zip(seeker_idx, det.assess_turns(dialogue.turns), strict=True))
    out = []
    for i, turn in enumerate(dialogue.turns):
        if turn.role != "supporter":
            continue
        before: Sequence[int] = [j for j in seeker_idx if j < i]
        assessment = verdicts[before[-1]] if before else RiskAssessment(False, "none", 0, "none")
        verdict = check_reply(turn.text, assessment)
        if not verdict.ok:
            out.append(UnsafeTurn(i, "; ".join(verdict.problems)))
    return out
