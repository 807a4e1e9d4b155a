"""Role detection and the default role-aware replies of the test server."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from sweetiechat.taxonomy import Strategy

__all__ = ["ROLE_MARKERS", "ChatRequest", "Reply", "RolePlayScript", "detect_role"]

#: How the built-in prompts start, per role (the server uses it to tell roles apart).
ROLE_MARKERS = {
    "seeker": "You are role-playing a person who is seeking emotional support",
    "supporter": "You are an emotional supporter",
    "counselor": "You are a strategy counselor",
    "scenario_writer": "You write scenarios",
    "profile_writer": "You write seeker profiles",
}
#: How the LLM judge's prompts start (pairwise, then 1-5 ratings); they are no role-play role.
JUDGE_MARKERS = ("You are an impartial expert judge", "You are an expert rater")


@dataclass
class ChatRequest:
    """What a script sees of a request."""

    role: str
    """The detected role (``seeker``, ``supporter``, ``counselor``, ``scenario_writer``,
    ``profile_writer``) or ``"unknown"``."""
    messages: list[dict[str, Any]]
    body: dict[str, Any]
    rng: random.Random
    """A per-request random generator, seeded by the server's fault seed."""

    @property
    def system(self) -> str:
        """The system message's text."""
        return next(
            (str(m.get("content", "")) for m in self.messages if m.get("role") == "system"), ""
        )

    @property
    def user(self) -> str:
        """The last user message's text."""
        return next(
            (str(m.get("content", "")) for m in reversed(self.messages) if m.get("role") == "user"),
            "",
        )


@dataclass
class Reply:
    """A scripted reply with the log-probabilities the server reports for it.

    >>> Reply("The answer", top_logprobs=[{"The": -0.1, "I": -2.6}]).content
    'The answer'
    """

    content: str
    """The reply text (split into tokens at whitespace)."""
    top_logprobs: list[dict[str, float]]
    """Per generated token, from the first: alternative token -> log-probability. The
    server sends them, best first, when the request asks for ``logprobs``; positions not
    given get the default (the token itself at -0.1)."""


def detect_role(messages: list[dict[str, Any]], model: str = "") -> str:
    """The role of a request: the model name when it is a role's name, else the prompt."""
    if model in ROLE_MARKERS:
        return model
    system = next((str(m.get("content", "")) for m in messages if m.get("role") == "system"), "")
    for role, marker in ROLE_MARKERS.items():
        if system.startswith(marker):
            return role
    return "unknown"


_SEEKER_LINES = [
    "I've been feeling really low lately and I don't know who else to talk to.",
    "It started a few months ago and it keeps getting worse.",
    "Honestly I feel like nobody understands what I'm going through.",
    "I tried talking to my family but they just tell me to get over it.",
    "Some days I can't even get out of bed.",
    "I guess I'm scared that things will never change.",
    "That's a good point, I hadn't thought about it that way.",
    "Maybe I could try that this week.",
]
_CLOSINGS = [
    "Thank you so much, this really helped. Goodbye! [END]",
    "Thanks for listening, I feel a bit lighter now. Bye. [END]",
]
_SUPPORT = {
    Strategy.QUESTION: "What has been the hardest part of this for you?",
    Strategy.RESTATEMENT: "So you have been carrying this mostly on your own.",
    Strategy.REFLECTION: "It sounds like you feel exhausted and alone with it.",
    Strategy.SELF_DISCLOSURE: "I went through something similar once, and it was really hard.",
    Strategy.AFFIRMATION: "Reaching out like this takes courage, and you are doing it.",
    Strategy.SUGGESTIONS: "Maybe you could write down one small thing you can do tomorrow.",
    Strategy.INFORMATION: "Many people feel this way, and talking to a counsellor often helps.",
    Strategy.OTHERS: "I'm glad you're here and I'm listening.",
}
_NAMES = ["Alex", "Maria", "Sam", "Priya", "Tom", "Yuki", "Omar", "Lena"]
_JOBS = ["nurse", "student", "teacher", "engineer", "cashier", "designer", "driver"]
_CITIES = ["Leeds", "Austin", "Toronto", "Dublin", "Perth", "Lyon"]


@dataclass
class RolePlayScript:
    """Plausible, role-appropriate replies; the seeker closes with probability ``close_rate``."""

    close_rate: float = 0.25

    def __call__(self, request: ChatRequest) -> str:
        rng = request.rng
        if request.role == "counselor":
            strategy = rng.choice(list(Strategy)).value
            if request.body.get("logprobs"):  # a served counselor answers with a bare label
                return strategy
            return rng.choice([strategy, f"[{strategy}]", f"{strategy}."])
        if request.role == "supporter":
            match = re.search(  # the shipped prompt names it last; a custom one may not
                r"support strategy in your reply: ([^.]+)\.", f"{request.user}\n{request.system}"
            )
            if match:
                return _SUPPORT[Strategy(match.group(1))]
            strategy = rng.choice(list(Strategy))  # no counselor: the supporter picks and tags
            return f"[{strategy.value}] {_SUPPORT[strategy]}"
        if request.role == "seeker":
            if rng.random() < self.close_rate:
                return rng.choice(_CLOSINGS)
            return rng.choice(_SEEKER_LINES)
        if request.role == "scenario_writer":
            found = re.search(r"Problem type: (.+)", request.user)
            topic = found.group(1).strip().lower() if found else "my situation"
            return (
                f"Three weeks ago my manager told me in front of everyone that my work was not "
                f"good enough, and since then {topic} has taken over my evenings and my sleep "
                f"while my partner keeps asking what is wrong."
            )
        if request.role == "profile_writer":
            return (
                f"{rng.choice(_NAMES)}, {rng.randint(18, 70)}, a {rng.choice(['female', 'male'])} "
                f"{rng.choice(_JOBS)} in {rng.choice(_CITIES)} who loves long walks and keeps "
                f"worries to themself."
            )
        if request.system.startswith(JUDGE_MARKERS[0]):  # the longer response wins
            first = re.search(r"^Response A: (.*)$", request.user, re.M)
            second = re.search(r"^Response B: (.*)$", request.user, re.M)
            a, b = (len(m.group(1)) if m else 0 for m in (first, second))
            return "tie" if a == b else ("A" if a > b else "B")
        if request.system.startswith(JUDGE_MARKERS[1]):
            return str(rng.randint(3, 5))
        return "Hello from the sweetiechat test server."
