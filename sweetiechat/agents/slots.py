"""The three slots of a conversation, as protocols: anything with the slot's one method
takes the slot. No base class is needed: a person typing
(:class:`~sweetiechat.agents.human.HumanSeeker`), a script
(:class:`~sweetiechat.agents.human.ScriptedSeeker`), a wrapper around another agent or a
model-backed agent all fit the same way.

- :class:`Seeker`: ``await arespond(dialogue) -> SeekerReply``.
- :class:`Counselor`: ``await aselect(dialogue) -> StrategyChoice``.
- :class:`Supporter`: ``await arespond(dialogue, strategy, example=None) -> Turn``, used when
  a counselor picks the strategy.
- :class:`FreeSupporter`: ``await arespond(dialogue, example=None) -> Turn``, used without a
  counselor: it picks its own strategy (``turn.strategy``; ``None`` records a fallback).

An optional ``name`` attribute labels the slot in ``meta.models`` and in errors.

>>> from sweetiechat.agents.seeker import SeekerReply
>>> class Echo:
...     async def arespond(self, dialogue):
...         return SeekerReply("Hello?", closes=False)
>>> check_slot("seeker", Echo()) is not None
True
>>> check_slot("seeker", "not an agent")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
TypeError: the seeker is str 'not an agent', which has no async method arespond(dialogue); ...
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from sweetiechat.agents.counselor import StrategyChoice
    from sweetiechat.agents.seeker import SeekerReply
    from sweetiechat.taxonomy import Strategy
    from sweetiechat.types import Dialogue, Scenario, Turn

__all__ = ["Counselor", "FreeSupporter", "Seeker", "Supporter", "check_slot", "slot_name"]


@runtime_checkable
class Seeker(Protocol):
    """The person looking for support: opens the chat, answers, and may close it."""

    async def arespond(self, dialogue: Dialogue) -> SeekerReply:
        """The next seeker utterance (the first one when ``dialogue`` has no turns)."""
        ...


@runtime_checkable
class Counselor(Protocol):
    """Picks the strategy of the next supporter turn."""

    async def aselect(self, dialogue: Dialogue) -> StrategyChoice:
        """The strategy for the reply to ``dialogue``'s last seeker turn."""
        ...


@runtime_checkable
class Supporter(Protocol):
    """Answers the seeker with the strategy a counselor picked."""

    async def arespond(
        self, dialogue: Dialogue, strategy: Strategy | str, example: Scenario | None = None
    ) -> Turn:
        """The supporter turn answering ``dialogue``'s last seeker turn."""
        ...


@runtime_checkable
class FreeSupporter(Protocol):
    """Answers the seeker with no counselor, naming its own strategy on the turn."""

    async def arespond(self, dialogue: Dialogue, example: Scenario | None = None) -> Turn:
        """The supporter turn; ``turn.strategy`` is its pick, or ``None`` when it named none."""
        ...


#: slot -> (method, the positional arguments the slot's caller passes, an example).
_SLOTS = {
    "seeker": (
        "arespond",
        ("dialogue",),
        "SeekerAgent(model), HumanSeeker(), ScriptedSeeker([...])",
    ),
    "counselor": ("aselect", ("dialogue",), "PromptedCounselor(model), a trained counselor"),
    "supporter": (
        "arespond",
        ("dialogue", "strategy", "example"),
        "SupporterAgent(model)",
    ),
    "free supporter": ("arespond", ("dialogue", "example"), "FreeSupporterAgent(model)"),
}


def slot_name(agent: object) -> str:
    """The label of ``agent`` in metadata and errors: its ``name``, else its class name."""
    return str(getattr(agent, "name", None) or type(agent).__name__)


def _describe(agent: object) -> str:
    text = repr(agent)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(agent).__name__} {text}" if isinstance(agent, str) else type(agent).__name__


def check_slot(slot: str, agent: object) -> object:
    """Check that ``agent`` can take ``slot`` (``"seeker"``, ``"counselor"``, ``"supporter"``
    or ``"free supporter"``) and return it.

    The check is by protocol: the slot's method exists, is a coroutine function, and accepts
    the arguments the conversation passes. A free supporter must not require a strategy.

    Raises:
        TypeError: the object cannot take the slot, saying what it needs.
        ValueError: a counselor-driven supporter in the free supporter's place.
    """
    method_name, args, example = _SLOTS[slot]
    method = getattr(agent, method_name, None)
    signature = f"{method_name}({', '.join(args)})"
    if method is None or not callable(method):
        raise TypeError(
            f"the {slot} is {_describe(agent)}, which has no async method {signature}; "
            f"a {slot} needs one (e.g. {example})"
        )
    target = inspect.unwrap(method)
    if not (inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(method)):
        raise TypeError(
            f"the {slot} {slot_name(agent)!r}: {method_name} must be an async method "
            f"(async def {signature})"
        )
    try:
        params = inspect.signature(method)
    except (TypeError, ValueError):  # builtins or C callables: trust them
        return agent
    try:
        params.bind(*args)
    except TypeError as err:
        raise TypeError(
            f"the {slot} {slot_name(agent)!r}: {method_name} cannot be called as "
            f"{signature} ({err})"
        ) from None
    if slot == "free supporter" and "strategy" in params.parameters:
        parameter = params.parameters["strategy"]
        if parameter.default is inspect.Parameter.empty:
            raise ValueError(
                f"without a counselor, the supporter must pick its own strategy (a "
                f"FreeSupporter such as FreeSupporterAgent); {slot_name(agent)!r} needs a "
                "strategy: add a counselor, or use FreeSupporterAgent"
            )
    return agent
