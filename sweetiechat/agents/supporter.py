"""The Supporter: answers with the strategy it is given, or (no counselor) one it picks."""

from __future__ import annotations

from sweetiechat._async import run_sync
from sweetiechat.agents.base import Agent, AgentError, render_history, strategy_list
from sweetiechat.safety import CRISIS_INSTRUCTION, seeker_in_crisis
from sweetiechat.taxonomy import Strategy, UnknownLabelError, parse_strategy
from sweetiechat.text import clean_utterance
from sweetiechat.types import Dialogue, Scenario, Turn

__all__ = ["FreeSupporterAgent", "SupporterAgent", "render_example"]


def render_example(example: Scenario | None, max_turns: int = 8) -> str:
    """A seed dialogue from pool S as a short transcript (its first ``max_turns`` turns)."""
    if example is None or not example.turns:
        return "(none)"
    return render_history(example.turns[:max_turns], window=max_turns)


class SupporterAgent(Agent):
    """Replies to the seeker with a given strategy (SPEC §3.4.3).

    It sees the strategy's meaning, the last 6 utterances and an example dialogue from the
    seed pool. When the seeker has signalled self-harm or suicide risk, its instructions add
    :data:`~sweetiechat.safety.CRISIS_INSTRUCTION`.

    >>> from langchain_core.language_models.fake_chat_models import FakeListChatModel
    >>> from sweetiechat.types import Dialogue, Turn
    >>> d = Dialogue(id="x", problem_type="Burnout", turns=[Turn(role="seeker", text="I'm tired.")])
    >>> SupporterAgent(FakeListChatModel(responses=["What tires you most?"])).respond(d, "Question")
    Turn(role='supporter', text='What tires you most?', strategy=<Strategy.QUESTION: 'Question'>)
    """

    prompt_name = "supporter"

    async def arespond(
        self, dialogue: Dialogue, strategy: Strategy | str, example: Scenario | None = None
    ) -> Turn:
        """The supporter's reply to the last seeker turn, using ``strategy``."""
        chosen = parse_strategy(strategy)
        text = await self._ask(
            {
                "strategy": chosen.value,
                "strategy_definition": chosen.definition,
                "example": render_example(example),
                "safety": CRISIS_INSTRUCTION if seeker_in_crisis(dialogue.turns) else "",
                "history": render_history(dialogue.turns, self.window),
                "problem_type": dialogue.problem_type.value,
            }
        )
        return Turn(role="supporter", text=text, strategy=chosen)

    def respond(
        self, dialogue: Dialogue, strategy: Strategy | str, example: Scenario | None = None
    ) -> Turn:
        """Synchronous :meth:`arespond`."""
        return run_sync(self.arespond(dialogue, strategy, example))


class FreeSupporterAgent(Agent):
    """A supporter with no counselor: it picks its own strategy, as the original's baseline.

    The model is asked to start with ``[Strategy]``. The returned turn carries the parsed
    strategy, or ``None`` when the tag was missing or unknown (the conversation then records
    a fallback).
    """

    prompt_name = "supporter_free"

    async def arespond(self, dialogue: Dialogue, example: Scenario | None = None) -> Turn:
        """The reply, with the strategy the model named (or ``None``)."""
        messages = self.prompt.render(
            strategy_list=strategy_list(),
            example=render_example(example),
            safety=CRISIS_INSTRUCTION if seeker_in_crisis(dialogue.turns) else "",
            history=render_history(dialogue.turns, self.window),
            problem_type=dialogue.problem_type.value,
        )
        for _ in range(self.attempts):
            raw = (await self.backend.acomplete(messages, **self.model_options)).text.strip()
            text = clean_utterance(raw, max_sentences=self.max_sentences)
            if text:
                return Turn(role="supporter", text=text, strategy=_leading_tag(raw))
        raise AgentError(f"FreeSupporterAgent ({self.name}) gave no usable text")

    def respond(self, dialogue: Dialogue, example: Scenario | None = None) -> Turn:
        """Synchronous :meth:`arespond`."""
        return run_sync(self.arespond(dialogue, example))


def _leading_tag(raw: str) -> Strategy | None:
    if not raw.startswith("["):
        return None
    try:
        return parse_strategy(raw[1:].split("]", 1)[0])
    except UnknownLabelError:
        return None
