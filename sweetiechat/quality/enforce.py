"""Enforcement during generation: wrappers that regenerate a turn a checker rejects.

- :class:`StrategyEnforcer` wraps a counselor-driven supporter: when the recognizer reads
  another strategy than the assigned one, the turn is generated again, up to ``tries``
  attempts in all. :class:`FreeStrategyEnforcer` does the same for a supporter that names
  its own strategy.
- :class:`RoleEnforcer` wraps a seeker: a turn that slides into the supporter's role (by the
  :class:`~sweetiechat.quality.roles.RoleDetector`, optionally confirmed by an LLM) is
  generated again.

When every attempt is rejected, the attempt the checker liked best is kept (the highest
P(assigned strategy), the lowest role score). Every checked turn is recorded with
:func:`sweetiechat.notes.note` under ``"enforcement"``, so it lands in the dialogue's
``meta.enforcement``::

    {"check": "strategy", "turn": 3, "assigned": "Question", "attempts": 2,
     "recognized": ["Providing Suggestions", "Question"], "accepted": true, "kept": 1}

The wrappers take the slot of what they wrap (same method and signature) and pass its
``name`` and ``safety`` through.

>>> rec = StrategyRecognizer.load("runs/recognizer")          # doctest: +SKIP
>>> supporter = StrategyEnforcer(SupporterAgent(model), rec, tries=3)   # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from sweetiechat.errors import ConfigError
from sweetiechat.notes import note
from sweetiechat.taxonomy import Strategy, parse_strategy
from sweetiechat.types import Dialogue, Turn

if TYPE_CHECKING:
    from sweetiechat.agents.seeker import SeekerReply
    from sweetiechat.quality.recognizer import StrategyRecognizer
    from sweetiechat.quality.roles import RoleDetector
    from sweetiechat.types import Scenario

__all__ = ["FreeStrategyEnforcer", "RoleEnforcer", "StrategyEnforcer", "check_tries"]

NOTE_KEY = "enforcement"


def check_tries(tries: int) -> int:
    """Return ``tries`` if it is between 1 and 20.

    Raises:
        ConfigError: it is not.
    """
    if not 1 <= tries <= 20:
        raise ConfigError(f"enforcement tries must be between 1 and 20, got {tries}")
    return tries


class _Wrapper:
    def __init__(self, inner: Any, tries: int) -> None:
        self.inner = inner
        self.tries = check_tries(tries)

    @property
    def name(self) -> str:
        """The wrapped agent's name (metadata shows the model, not the wrapper)."""
        from sweetiechat.agents.slots import slot_name

        return slot_name(self.inner)

    @property
    def safety(self) -> Any:
        """The wrapped supporter's safety guard, if any (the conversation reads it)."""
        return getattr(self.inner, "safety", None)

    def __getattr__(self, attr: str) -> Any:  # other settings of the wrapped agent
        if attr == "inner":
            raise AttributeError(attr)
        return getattr(self.inner, attr)


async def _recognize(recognizer: StrategyRecognizer, dialogue: Dialogue, turn: Turn) -> Any:
    cut = dialogue.model_copy(update={"turns": [*dialogue.turns, turn]})
    ((got, probs),) = await asyncio.to_thread(recognizer.predict, [(cut, len(cut.turns) - 1)])
    return got, probs


class _StrategyLoop(_Wrapper):
    def __init__(self, inner: Any, recognizer: StrategyRecognizer, *, tries: int = 3) -> None:
        super().__init__(inner, tries)
        self.recognizer = recognizer

    async def _enforce(self, dialogue: Dialogue, make: Any, assigned: Strategy | None) -> Turn:
        recognized: list[str] = []
        best: tuple[float, int, Turn] | None = None
        accepted = False
        for attempt in range(self.tries):
            turn = await make()
            target = assigned or turn.strategy
            if target is None:  # a free supporter that named no strategy: nothing to check
                return turn
            got, probs = await _recognize(self.recognizer, dialogue, turn)
            recognized.append(got.value)
            if best is None or probs[target] > best[0]:
                best = (probs[target], attempt, turn)
            if got is target:
                best, accepted = (probs[target], attempt, turn), True
                break
        assert best is not None
        note(
            NOTE_KEY,
            {
                "check": "strategy",
                "turn": len(dialogue.turns),
                "assigned": (assigned or best[2].strategy or Strategy.OTHERS).value,
                "attempts": len(recognized),
                "recognized": recognized,
                "accepted": accepted,
                "kept": best[1],
            },
        )
        return best[2]


class StrategyEnforcer(_StrategyLoop):
    """A counselor-driven supporter whose turns must be recognized as the assigned strategy.

    Args:
        inner: the supporter (``await arespond(dialogue, strategy, example=None)``).
        recognizer: the strategy recognizer.
        tries: attempts per turn in all (1: check and record only).
    """

    async def arespond(
        self, dialogue: Dialogue, strategy: Strategy | str, example: Scenario | None = None
    ) -> Turn:
        """The supporter's turn, regenerated while the recognizer disagrees."""
        chosen = parse_strategy(strategy)
        return await self._enforce(
            dialogue, lambda: self.inner.arespond(dialogue, chosen, example), chosen
        )


class FreeStrategyEnforcer(_StrategyLoop):
    """A supporter that picks its own strategy, whose turns must be recognized as the
    strategy it named (same arguments as :class:`StrategyEnforcer`)."""

    async def arespond(self, dialogue: Dialogue, example: Scenario | None = None) -> Turn:
        """The supporter's turn, regenerated while the recognizer disagrees with its tag."""
        return await self._enforce(dialogue, lambda: self.inner.arespond(dialogue, example), None)


class RoleEnforcer(_Wrapper):
    """A seeker whose turns must stay in the seeker's role.

    Args:
        inner: the seeker (``await arespond(dialogue) -> SeekerReply``).
        detector: the role detector.
        tries: attempts per turn in all (1: check and record only).
        llm: a backend that confirms each flagged turn (see
            :meth:`~sweetiechat.quality.roles.RoleDetector.acheck`); None: the detector alone.
    """

    def __init__(
        self, inner: Any, detector: RoleDetector, *, tries: int = 3, llm: Any = None
    ) -> None:
        super().__init__(inner, tries)
        self.detector = detector
        self.llm = llm

    async def arespond(self, dialogue: Dialogue) -> SeekerReply:
        """The seeker's turn, regenerated while it reads as the supporter's."""
        scores: list[float] = []
        best: tuple[float, int, Any] | None = None
        accepted = False
        for attempt in range(self.tries):
            reply = await self.inner.arespond(dialogue)
            text = getattr(reply, "text", None)
            if not isinstance(text, str) or not text.strip():
                return reply  # the conversation reports it
            cut = dialogue.model_copy(
                update={"turns": [*dialogue.turns, Turn(role="seeker", text=text)]}
            )
            (verdict,) = await self.detector.acheck([(cut, len(cut.turns) - 1)], self.llm)
            scores.append(round(verdict.score, 4))
            if best is None or verdict.score < best[0]:
                best = (verdict.score, attempt, reply)
            if not verdict.flagged:
                best, accepted = (verdict.score, attempt, reply), True
                break
        assert best is not None
        note(
            NOTE_KEY,
            {
                "check": "role",
                "turn": len(dialogue.turns),
                "attempts": len(scores),
                "scores": scores,
                "threshold": self.detector.threshold,
                "accepted": accepted,
                "kept": best[1],
            },
        )
        return best[2]


def enforce_roles(config: Any, seeker: Any, supporter: Any, *, free: bool, llm: Any = None) -> Any:
    """Wrap a run's seeker and supporter as an
    :class:`~sweetiechat.config.EnforcementConfig` says (the generator's hook).

    Args:
        config: the enforcement settings.
        seeker: the seeker agent.
        supporter: the supporter agent.
        free: the supporter picks its own strategy (no counselor).
        llm: the backend that confirms flagged seeker turns when ``role_llm_check`` is on.

    Returns:
        ``(seeker, supporter)``, each wrapped or as given.

    Raises:
        ConfigError: a missing or bad recognizer or role-detector folder.
    """
    if config.strategy:
        from sweetiechat.quality.recognizer import StrategyRecognizer

        recognizer = StrategyRecognizer.load(config.recognizer)
        wrapper = FreeStrategyEnforcer if free else StrategyEnforcer
        supporter = wrapper(supporter, recognizer, tries=config.tries)
    if config.role:
        from sweetiechat.quality.roles import RoleDetector

        detector = RoleDetector.load(config.role_detector, threshold=config.role_threshold)
        seeker = RoleEnforcer(
            seeker, detector, tries=config.tries, llm=llm if config.role_llm_check else None
        )
    return seeker, supporter


def with_enforcement(config: Any, **flags: Any) -> Any:
    """``config`` (a :class:`~sweetiechat.config.GenerationConfig`) with its enforcement
    settings updated by the non-None ``flags`` (``strategy``, ``role``, ``tries``,
    ``recognizer``, ``role_detector``, ``role_threshold``, ``role_llm_check``), checked: the
    folders exist and hold what they should.

    Raises:
        ConfigError: a bad value (named by its flag) or a missing or bad folder.
    """
    from pydantic import ValidationError

    from sweetiechat.config import EnforcementConfig
    from sweetiechat.errors import first_problem

    data = {
        **config.enforcement.model_dump(exclude_unset=True),
        **{k: v for k, v in flags.items() if v is not None},
    }
    try:
        enforcement = EnforcementConfig.model_validate(data)
    except ValidationError as err:
        field, message = first_problem(err, "")
        if not field:  # a rule across fields
            raise ConfigError(message) from None
        flag = {"strategy": "--enforce-strategy", "tries": "--enforce-tries"}.get(
            field, f"--{field.replace('_', '-')}"
        )
        raise ConfigError(f"{flag} (enforcement.{field}): {message}") from None
    if enforcement.strategy:
        from sweetiechat.quality.recognizer import StrategyRecognizer

        StrategyRecognizer.load(enforcement.recognizer)  # None: the shipped one
    if enforcement.role:
        from sweetiechat.quality.roles import RoleDetector

        RoleDetector.load(enforcement.role_detector, threshold=enforcement.role_threshold)
    return config.model_copy(update={"enforcement": enforcement})
