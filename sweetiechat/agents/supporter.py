"""The Supporter: answers with the strategy it is given, or (no counselor) one it picks."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from sweetiechat._async import run_sync
from sweetiechat.agents.base import Agent, AgentError, render_history, strategy_list
from sweetiechat.backends.base import ChatBackend
from sweetiechat.prompts import PromptTemplate
from sweetiechat.safety import SafetyGuard
from sweetiechat.taxonomy import Strategy, UnknownLabelError, parse_strategy
from sweetiechat.text import clean_utterance
from sweetiechat.types import Dialogue, Scenario, Turn

__all__ = ["FreeSupporterAgent", "SupporterAgent", "render_example"]

#: The strategy recorded on a no-counselor supporter's template reply.
TEMPLATE_STRATEGY = Strategy.INFORMATION


class _Guarded(Agent):
    """An agent whose every reply goes through a :class:`~sweetiechat.safety.SafetyGuard`.

    Args:
        backend, prompt, prompts_dir, window, max_sentences, attempts, model_options: as
            :class:`~sweetiechat.agents.base.Agent`.
        safety: the crisis guard (detector, resources, reply check); default: a guard with the
            shared detector and the US resources. ``False`` turns crisis handling off (only
            for experiments: then nothing checks the replies).
    """

    def __init__(
        self,
        backend: ChatBackend | BaseChatModel,
        *,
        prompt: PromptTemplate | None = None,
        prompts_dir: str | Path | None = None,
        window: int = 6,
        max_sentences: int = 3,
        attempts: int = 3,
        model_options: dict[str, Any] | None = None,
        safety: SafetyGuard | bool = True,
    ) -> None:
        super().__init__(
            backend,
            prompt=prompt,
            prompts_dir=prompts_dir,
            window=window,
            max_sentences=max_sentences,
            attempts=attempts,
            model_options=model_options,
        )
        self.safety: SafetyGuard | None = (
            safety if isinstance(safety, SafetyGuard) else SafetyGuard() if safety else None
        )
        if self.safety is not None and "safety" not in self.prompt.fields:
            warnings.warn(
                f"{self.prompt.source} has no {{safety}} placeholder, so the crisis protocol "
                "never reaches the model (replies are still checked); add {safety} to the "
                "system part",
                UserWarning,
                stacklevel=3,
            )


def render_example(example: Scenario | None, max_turns: int = 8) -> str:
    """A seed dialogue from pool S as a short transcript (its first ``max_turns`` turns)."""
    if example is None or not example.turns:
        return "(none)"
    return render_history(example.turns[:max_turns], window=max_turns)


class SupporterAgent(_Guarded):
    """Replies to the seeker with a given strategy (Ye et al., COLING 2025; docs/method.md).

    It sees the strategy's meaning, the last 6 utterances and an example dialogue from the
    seed pool. Every seeker message is read by the crisis detector: when it signals risk, the
    instructions add a crisis protocol for its category, the reply is checked (acknowledges
    the risk, asks about safety or points to help, no method information), regenerated when
    it fails, and replaced by a vetted template after ``safety.max_tries`` failures. Replies
    with method information are rejected in any dialogue.

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
        assessment, target = (
            await self.safety.aassess_for_reply(dialogue.turns) if self.safety else (None, None)
        )
        values = {
            "strategy": chosen.value,
            "strategy_definition": chosen.definition,
            "example": render_example(example),
            "safety": self.safety.instruction(assessment) if self.safety and assessment else "",
            "history": render_history(dialogue.turns, self.window),
            "problem_type": dialogue.problem_type.value,
        }
        if self.safety is None or target is None:
            return Turn(role="supporter", text=await self._ask(values), strategy=chosen)
        text, _ = await self.safety.areply(lambda: self._ask(values), target, len(dialogue.turns))
        return Turn(role="supporter", text=text, strategy=chosen)

    def respond(
        self, dialogue: Dialogue, strategy: Strategy | str, example: Scenario | None = None
    ) -> Turn:
        """Synchronous :meth:`arespond`."""
        return run_sync(self.arespond(dialogue, strategy, example))


class FreeSupporterAgent(_Guarded):
    """A supporter with no counselor: it picks its own strategy, as the original's baseline.

    The model is asked to start with ``[Strategy]``. The returned turn carries the parsed
    strategy, or ``None`` when the tag was missing or unknown (the conversation then records
    a fallback). Crisis handling is the same as :class:`SupporterAgent`'s; a template reply
    carries :data:`TEMPLATE_STRATEGY`.
    """

    prompt_name = "supporter_free"

    async def arespond(self, dialogue: Dialogue, example: Scenario | None = None) -> Turn:
        """The reply, with the strategy the model named (or ``None``)."""
        assessment, target = (
            await self.safety.aassess_for_reply(dialogue.turns) if self.safety else (None, None)
        )
        messages = self.prompt.render(
            strategy_list=strategy_list(),
            example=render_example(example),
            safety=self.safety.instruction(assessment) if self.safety and assessment else "",
            history=render_history(dialogue.turns, self.window),
            problem_type=dialogue.problem_type.value,
        )
        tag: list[Strategy | None] = [None]

        async def generate() -> str:
            for _ in range(self.attempts):
                raw = (await self.backend.acomplete(messages, **self.model_options)).text.strip()
                text = clean_utterance(raw, max_sentences=self.max_sentences)
                if text:
                    tag[0] = _leading_tag(raw)
                    return text
            raise AgentError(f"FreeSupporterAgent ({self.name}) gave no usable text")

        if self.safety is None or target is None:
            text = await generate()
            return Turn(role="supporter", text=text, strategy=tag[0])
        text, templated = await self.safety.areply(generate, target, len(dialogue.turns))
        return Turn(
            role="supporter", text=text, strategy=TEMPLATE_STRATEGY if templated else tag[0]
        )

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
