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

from pydantic import BaseModel, ConfigDict, Field

from sweetiechat._async import run_sync
from sweetiechat.agents.counselor import StrategyChoice
from sweetiechat.agents.slots import (
    Counselor,
    FreeSupporter,
    Seeker,
    Supporter,
    check_slot,
    slot_name,
)
from sweetiechat.backends.wrappers import DIALOGUE_USAGE
from sweetiechat.errors import AgentError
from sweetiechat.notes import DIALOGUE_NOTES
from sweetiechat.safety import SAFETY_EVENTS, adialogue_safety_meta
from sweetiechat.taxonomy import ProblemType, Strategy, parse_problem_type
from sweetiechat.types import Dialogue, DialogueMeta, ProblemTypeField, Scenario, Turn, Usage

__all__ = ["Conversation", "Episode", "attributed"]

T = TypeVar("T")

#: The strategy recorded for a no-counselor supporter turn whose tag was unusable.
FREE_SUPPORTER_FALLBACK = Strategy.OTHERS


class Episode(BaseModel):
    """What one dialogue is about, as data: the seeker's situation, the example the supporter
    sees, and the turns to continue from.

    >>> Episode(problem_type="burnout", scenario="I work 70 hours a week.").problem_type
    <ProblemType.BURNOUT: 'Burnout'>
    """

    model_config = ConfigDict(frozen=True)

    problem_type: ProblemTypeField
    """One of the 45 problem types (names, abbreviations and ESConv's are accepted)."""
    scenario: str | None = None
    """The seeker's situation."""
    profile: str | None = None
    """Who the seeker is."""
    example: Scenario | None = None
    """A seed dialogue shown to the supporter."""
    history: list[Turn] = Field(default_factory=list)
    """Turns already said: the conversation continues after them."""
    dialogue_id: str | None = None
    """The id of the resulting dialogue (default: the conversation's)."""


async def attributed(role: str, agent: object, call: Awaitable[T]) -> T:
    """Await ``call`` (a step of ``role``); a failure is re-raised as :class:`AgentError`
    naming the role and the agent's model, with the original error as its cause."""
    try:
        return await call
    except AgentError:
        raise
    except Exception as err:
        raise AgentError(role, slot_name(agent), err) from err


@dataclass
class Conversation:
    """Plays dialogues with whatever fills the slots (:mod:`sweetiechat.agents.slots`).

    The slots take anything with the slot's method: model agents, a
    :class:`~sweetiechat.agents.human.HumanSeeker`, a
    :class:`~sweetiechat.agents.human.ScriptedSeeker`, wrappers. What the dialogue is about
    comes either from the fields below (one dialogue per object, the original form) or as an
    :class:`Episode` given to :meth:`arun` (one object, many episodes).

    Args:
        seeker: plays the person looking for support (a :class:`~.slots.Seeker`).
        supporter: answers: a :class:`~.slots.Supporter` with a counselor, a
            :class:`~.slots.FreeSupporter` (picks its own strategy) without one.
        counselor: picks each supporter turn's strategy; ``None`` lets the supporter choose.
        problem_type, scenario, profile: who the seeker is and what they face (the default
            episode; required unless :meth:`arun` gets an ``episode``).
        example: a seed dialogue shown to the supporter.
        max_seeker_turns: stop after this many seeker turns, counting the history's
            (default 10).
        min_seeker_turns: a close before this many seeker turns is ignored (default 3).
        dialogue_id: the id of the resulting dialogue.

    Raises:
        TypeError: an object that cannot take its slot, saying what the slot needs.
        ValueError: no counselor and a supporter that needs one.
    """

    seeker: Seeker
    supporter: Supporter | FreeSupporter
    counselor: Counselor | None = None
    problem_type: ProblemType | str | None = None
    scenario: str | None = None
    profile: str | None = None
    example: Scenario | None = None
    max_seeker_turns: int = 10
    min_seeker_turns: int = 3
    dialogue_id: str = "dialogue"

    def __post_init__(self) -> None:
        if self.problem_type is not None:
            self.problem_type = parse_problem_type(self.problem_type)
        if self.min_seeker_turns > self.max_seeker_turns:
            raise ValueError("min_seeker_turns must not exceed max_seeker_turns")
        check_slot("seeker", self.seeker)
        if self.counselor is None:
            check_slot("free supporter", self.supporter)
        else:
            check_slot("counselor", self.counselor)
            check_slot("supporter", self.supporter)

    def _models(self) -> dict[str, str]:
        models = {"seeker": slot_name(self.seeker), "supporter": slot_name(self.supporter)}
        models["counselor"] = (
            slot_name(self.counselor) if self.counselor else "none (supporter picks)"
        )
        return models

    def _episode(self, episode: Episode | None) -> Episode:
        if episode is not None:
            return episode
        if self.problem_type is None:
            raise ValueError(
                "no episode: give Conversation(problem_type=...) or arun(Episode(...))"
            )
        return Episode(
            problem_type=self.problem_type,
            scenario=self.scenario,
            profile=self.profile,
            example=self.example,
        )

    async def _supporter_turn(
        self, dialogue: Dialogue, example: Scenario | None
    ) -> tuple[Turn, bool]:
        """The next supporter turn, its strategy chosen by the counselor or the supporter, and
        whether a fallback strategy was taken."""
        if self.counselor is None:
            free: FreeSupporter = self.supporter  # type: ignore[assignment]
            turn = await attributed("supporter", free, free.arespond(dialogue, example))
            _check_turn(free, turn)
            if turn.strategy is None:
                return turn.model_copy(update={"strategy": FREE_SUPPORTER_FALLBACK}), True
            return turn, False
        choice = await attributed("counselor", self.counselor, self.counselor.aselect(dialogue))
        if not isinstance(choice, StrategyChoice):
            raise TypeError(
                f"the counselor {slot_name(self.counselor)!r} returned "
                f"{type(choice).__name__} {choice!r}; aselect() must return a "
                "StrategyChoice, e.g. StrategyChoice(Strategy.QUESTION)"
            )
        guided: Supporter = self.supporter  # type: ignore[assignment]
        turn = await attributed(
            "supporter", guided, guided.arespond(dialogue, choice.strategy, example)
        )
        _check_turn(guided, turn)
        return turn, choice.fallback

    async def arun(
        self, episode: Episode | DialogueMeta | None = None, meta: DialogueMeta | None = None
    ) -> Dialogue:
        """Play one dialogue to the end and return it (``await`` it in a notebook).

        Args:
            episode: what the dialogue is about; default: the constructor's fields. (A
                :class:`DialogueMeta` here is taken as ``meta``, the original call form.)
            meta: metadata to start from (``models``, ``timings`` ... are added).
        """
        if isinstance(episode, DialogueMeta):
            episode, meta = None, episode
        ep = self._episode(episode)
        start = time.perf_counter()
        usage = Usage()
        token = DIALOGUE_USAGE.set(usage) if DIALOGUE_USAGE.get() is None else None
        safety_token = SAFETY_EVENTS.set([])  # the supporter's checked-reply events
        notes: dict[str, list[dict[str, Any]]] = {}  # what wrapped agents did (sweetiechat.notes)
        notes_token = DIALOGUE_NOTES.set(notes)
        meta = (meta or DialogueMeta()).model_copy(update={"models": self._models()})
        turns: list[Turn] = list(ep.history)
        dialogue = Dialogue(
            id=ep.dialogue_id or self.dialogue_id,
            problem_type=ep.problem_type,
            scenario=ep.scenario,
            profile=ep.profile,
            turns=list(turns),
            meta=meta,
        )
        fallbacks = 0
        try:
            seeker_turns = sum(t.role == "seeker" for t in turns)
            if turns and turns[-1].role == "seeker" and seeker_turns < self.max_seeker_turns:
                turn, fell_back = await self._supporter_turn(dialogue, ep.example)
                turns.append(turn)
                fallbacks += fell_back
                dialogue = dialogue.model_copy(update={"turns": list(turns)})
            while seeker_turns < self.max_seeker_turns:
                reply = await attributed("seeker", self.seeker, self.seeker.arespond(dialogue))
                if not isinstance(getattr(reply, "text", None), str):
                    raise TypeError(
                        f"the seeker {slot_name(self.seeker)!r} returned "
                        f"{type(reply).__name__} {reply!r}; arespond() must return a "
                        "SeekerReply, e.g. SeekerReply('I feel low.', closes=False)"
                    )
                turns.append(Turn(role="seeker", text=reply.text))
                seeker_turns += 1
                dialogue = dialogue.model_copy(update={"turns": list(turns)})
                closes = reply.closes and seeker_turns >= self.min_seeker_turns
                if closes or seeker_turns >= self.max_seeker_turns:
                    break
                turn, fell_back = await self._supporter_turn(dialogue, ep.example)
                turns.append(turn)
                fallbacks += fell_back
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

    def run(
        self, episode: Episode | DialogueMeta | None = None, meta: DialogueMeta | None = None
    ) -> Dialogue:
        """Synchronous :meth:`arun`, for scripts (raises inside a running event loop)."""
        return run_sync(self.arun(episode, meta))


def _check_turn(supporter: object, turn: object) -> None:
    if not isinstance(turn, Turn) or turn.role != "supporter":
        raise TypeError(
            f"the supporter {slot_name(supporter)!r} returned {type(turn).__name__} "
            f"{turn!r}; arespond() must return Turn(role='supporter', text=..., strategy=...)"
        )
