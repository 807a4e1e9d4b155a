"""The Seeker: plays a persona with a problem, opens the chat, and closes it when helped."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sweetiechat._async import run_sync
from sweetiechat.agents.base import Agent, render_history
from sweetiechat.text import truncate_sentences
from sweetiechat.types import Dialogue

__all__ = ["SeekerAgent", "SeekerReply"]

_END = re.compile(r"\[\s*end\s*\]|<\s*end\s*>", re.IGNORECASE)


@dataclass(frozen=True)
class SeekerReply:
    """One seeker utterance, and whether the seeker closed the conversation with it."""

    text: str
    closes: bool


class SeekerAgent(Agent):
    """Speaks as the person in ``dialogue.profile`` facing ``dialogue.scenario``.

    >>> from langchain_core.language_models.fake_chat_models import FakeListChatModel
    >>> from sweetiechat.types import Dialogue
    >>> seeker = SeekerAgent(FakeListChatModel(responses=["Thanks, bye! [END]"]))
    >>> seeker.respond(Dialogue(id="x", problem_type="Burnout", scenario="...", profile="..."))
    SeekerReply(text='Thanks, bye!', closes=True)
    """

    prompt_name = "seeker"

    async def arespond(self, dialogue: Dialogue) -> SeekerReply:
        """The seeker's next utterance; the first one when ``dialogue`` has no turns."""
        history = render_history(dialogue.turns, self.window)
        if not history:
            history = "The chat has just started. Open it by telling the supporter how you feel."
        raw = await self._ask(
            {
                "profile": dialogue.profile or "a person who needs to talk",
                "scenario": dialogue.scenario or "",
                "problem_type": dialogue.problem_type.value,
                "history": history,
            },
            max_sentences=0,
        )
        closes = bool(_END.search(raw))
        text = _END.sub("", raw).strip()
        text = truncate_sentences(text, self.max_sentences) if text else "Thank you. Goodbye."
        return SeekerReply(text=text, closes=closes)

    def respond(self, dialogue: Dialogue) -> SeekerReply:
        """Synchronous :meth:`arespond`, for scripts."""
        return run_sync(self.arespond(dialogue))
