"""The turn loop for one dialogue (docs/method.md, "Role-play"): the seeker opens; then each turn is
counselor -> supporter -> seeker, until the seeker closes or the turn limit is hit.

>>> from langchain_core.language_models.fake_chat_models import FakeListChatModel
>>> from sweetiechat.agents import SeekerAgent, SupporterAgent, PromptedCounselor
>>> conv = Conversation(
...     seeker=SeekerAgent(FakeListChatModel(responses=["I feel low.", "Thanks, bye. [END]"])),
...     supporter=SupporterAgent(FakeListChatModel(responses=["What happened?"])),
...     counselor=PromptedCounselor(FakeListChatModel(responses=["Question"])),
...     problem_type="Ongoing Depression", scenario="...", profile="...", min_seeker_turns=1)
>>> [(t.role, t.strategy) for t in conv.run().turns]  # doctest: +NORMALIZE_WHITESPACE
[('seeker', None), ('supporter', <Strategy.QUESTION: 'Question'>), ('seeker', None)]
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

from sweetiechat._async import run_sync
from sweetiechat.agents.counselor import CounselorAgent, StrategyChoice
from sweetiechat.agents.seeker import SeekerAgent
from sweetiechat.agents.supporter import FreeSupporterAgent, SupporterAgent
from sweetiechat.backends.wrappers import DIALOGUE_USAGE
from sweetiechat.errors import AgentError
from sweetiechat.notes import DIALOGUE_NOTES
from sweetiechat.safety import SAFETY_EVENTS, adialogue_safety_meta
from sweetiechat.taxonomy import ProblemType, Strategy, parse_problem_type
from sweetiechat.types import Dialogue, DialogueMeta, Scenario, Turn, Usage

__all__ = ["Conversation", "attributed"]

T = TypeVar("T")

#: The strategy recorded for a no-counselor supporter turn whose tag was unusable.
FREE_SUPPORTER_FALLBACK = Strategy.OTHERS


async def attributed(role: str, agent: object, call: Awaitable[T]) -> T:
    """Await ``call`` (a step of ``role``); a failure is re-raised as :class:`AgentError`
    naming the role and the agent's model, with the original error as its cause."""
    try:
        return await call
    except AgentError:
        raise
    except Exception as err:
        raise AgentError(role, str(getattr(agent, "name", type(agent).__name__)), err) from err


@dataclass
class Conversation:
    """One role-played dialogue.

    Args:
        seeker: plays the person looking for support.
        supporter: answers; a :class:`FreeSupporterAgent` when ``counselor`` is ``None``.
        counselor: picks each supporter turn's strategy; ``None`` lets the supporter choose.
        problem_type, scenario, profile: who the seeker is and what they face.
        example: a seed dialogue shown to the supporter.
        max_seeker_turns: stop after this many seeker turns (default 10).
        min_seeker_turns: a close before this many seeker turns is ignored (default 3).
        dialogue_id: the id of the resulting dialogue.
    """

    seeker: SeekerAgent
    supporter: SupporterAgent | FreeSupporterAgent
    counselor: CounselorAgent | None
    problem_type: ProblemType | str
    scenario: str | None = None
    profile: str | None = None
    example: Scenario | None = None
    max_seeker_turns: int = 10
    min_seeker_turns: int = 3
    dialogue_id: str = "dialogue"

    def __post_init__(self) -> None:
        self.problem_type = parse_problem_type(self.problem_type)
        if self.min_seeker_turns > self.max_seeker_turns:
            raise ValueError("min_seeker_turns must not exceed max_seeker_turns")
        if self.counselor is None and not isinstance(self.supporter, FreeSupporterAgent):
            raise ValueError("without a counselor, the supporter must be a FreeSupporterAgent")

    def _models(self) -> dict[str, str]:
        models = {"seeker": self.seeker.name, "supporter": self.supporter.name}
        models["counselor"] = self.counselor.name if self.counselor else "none (supporter picks)"
        return models

    async def arun(self, meta: DialogueMeta | None = None) -> Dialogue:
        """Play the dialogue to the end and return it (``await`` it in a notebook)."""
        start = time.perf_counter()
        usage = Usage()
        token = DIALOGUE_USAGE.set(usage) if DIALOGUE_USAGE.get() is None else None
        safety_token = SAFETY_EVENTS.set([])  # the supporter's checked-reply events
        notes: dict[str, list[dict[str, Any]]] = {}  # what wrapped agents did (sweetiechat.notes)
        notes_token = DIALOGUE_NOTES.set(notes)
        meta = (meta or DialogueMeta()).model_copy(update={"models": self._models()})
        dialogue = Dialogue(
            id=self.dialogue_id,
            problem_type=self.problem_type,
            scenario=self.scenario,
            profile=self.profile,
            meta=meta,
        )
        fallbacks = 0
        turns: list[Turn] = []
        try:
            seeker_turns = 0
            while True:
                reply = await attributed("seeker", self.seeker, self.seeker.arespond(dialogue))
                turns.append(Turn(role="seeker", text=reply.text))
                seeker_turns += 1
                dialogue = dialogue.model_copy(update={"turns": list(turns)})
                closes = reply.closes and seeker_turns >= self.min_seeker_turns
                if closes or seeker_turns >= self.max_seeker_turns:
                    break
                if self.counselor is None:
                    assert isinstance(self.supporter, FreeSupporterAgent)
                    turn = await attributed(
                        "supporter", self.supporter, self.supporter.arespond(dialogue, self.example)
                    )
                    if turn.strategy is None:
                        fallbacks += 1
                        turn = turn.model_copy(update={"strategy": FREE_SUPPORTER_FALLBACK})
                else:
                    assert isinstance(self.supporter, SupporterAgent)
                    choice = await attributed(
                        "counselor", self.counselor, self.counselor.aselect(dialogue)
                    )
                    if not isinstance(choice, StrategyChoice):
                        raise TypeError(
                            f"the counselor {self.counselor.name!r} returned "
                            f"{type(choice).__name__} {choice!r}; aselect() must return a "
                            "StrategyChoice, e.g. StrategyChoice(Strategy.QUESTION)"
                        )
                    fallbacks += choice.fallback
                    turn = await attributed(
                        "supporter",
                        self.supporter,
                        self.supporter.arespond(dialogue, choice.strategy, self.example),
                    )
                turns.append(turn)
                dialogue = dialogue.model_copy(update={"turns": list(turns)})
        finally:
            if token is not None:
                DIALOGUE_USAGE.reset(token)
            safety_events = SAFETY_EVENTS.get() or []
            SAFETY_EVENTS.reset(safety_token)
            DIALOGUE_NOTES.reset(notes_token)
        guard = getattr(self.supporter, "safety", None)  # the supporter's own detector
        detector = getattr(guard, "detector", None)
        safety = await adialogue_safety_meta(turns, safety_events, detector)
        crisis = safety is not None and "category" in safety
        timings = {**meta.timings, "roleplay": round(time.perf_counter() - start, 3)}
        update: dict[str, Any] = {
            **notes,
            "counselor_fallbacks": fallbacks,
            "timings": timings,
            "crisis": crisis,
        }
        if token is not None:
            update["usage"] = usage
        if safety is not None:
            update["safety"] = safety
        new_meta = dialogue.meta.model_copy(update=update)
        return dialogue.model_copy(update={"meta": new_meta})

    def run(self, meta: DialogueMeta | None = None) -> Dialogue:
        """Synchronous :meth:`arun`, for scripts (raises inside a running event loop)."""
        return run_sync(self.arun(meta))
