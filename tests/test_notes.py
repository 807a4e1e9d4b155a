"""A wrapped agent's notes end up in the dialogue's meta, one list per key, per dialogue."""

from __future__ import annotations

from langchain_core.language_models.fake_chat_models import FakeListChatModel

from sweetiechat.agents import PromptedCounselor, SeekerAgent, SupporterAgent
from sweetiechat.conversation import Conversation
from sweetiechat.notes import DIALOGUE_NOTES, note
from sweetiechat.taxonomy import Strategy
from sweetiechat.types import Dialogue, Scenario, Turn


class NotingSupporter(SupporterAgent):
    async def arespond(
        self, dialogue: Dialogue, strategy: Strategy, example: Scenario | None = None
    ) -> Turn:
        note("enforcement", {"turn": len(dialogue.turns), "strategy": strategy.value})
        return await super().arespond(dialogue, strategy, example)


def _conversation() -> Conversation:
    return Conversation(
        seeker=SeekerAgent(
            FakeListChatModel(responses=["I feel low.", "It is work.", "Thanks, bye. [END]"])
        ),
        supporter=NotingSupporter(FakeListChatModel(responses=["What happened?", "I see."])),
        counselor=PromptedCounselor(FakeListChatModel(responses=["Question", "Reflection"])),
        problem_type="Ongoing Depression",
        scenario="...",
        profile="...",
        min_seeker_turns=1,
    )


def test_notes_go_into_meta_in_turn_order() -> None:
    dialogue = _conversation().run()
    assert dialogue.meta.model_dump()["enforcement"] == [
        {"turn": 1, "strategy": "Question"},
        {"turn": 3, "strategy": "Reflection of feelings"},
    ]
    assert DIALOGUE_NOTES.get() is None  # nothing leaks past the dialogue


def test_a_dialogue_without_notes_has_no_extra_meta() -> None:
    conv = _conversation()
    conv.supporter = SupporterAgent(FakeListChatModel(responses=["What happened?", "I see."]))
    assert "enforcement" not in conv.run().meta.model_dump()
