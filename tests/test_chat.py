"""ChatSession on langchain_core fake chat models: streaming, counselor, safety, transcript."""

from __future__ import annotations

import asyncio
import itertools
import json

import pytest
from langchain_core.language_models.fake_chat_models import (
    FakeListChatModel,
    GenericFakeChatModel,
)

from sweetiechat.agents import PromptedCounselor, StrategyChoice
from sweetiechat.chat import WITHDRAWN, ChatSession
from sweetiechat.io import read_dialogues
from sweetiechat.quality.guard import NEUTRAL_REPLY
from sweetiechat.safety import SafetyGuard
from sweetiechat.taxonomy import Strategy


def streaming(*replies: str) -> GenericFakeChatModel:
    """A fake chat model that streams each reply word by word (cycling through them)."""
    return GenericFakeChatModel(messages=itertools.cycle(replies))


def say(chat: ChatSession, text: str) -> list[str]:
    async def run() -> list[str]:
        return [piece async for piece in chat.send(text)]

    return asyncio.run(run())


class ProbCounselor:
    """Fits the counselor slot without subclassing anything."""

    name = "probs"

    async def aselect(self, dialogue):
        probs = {s: 0.0 for s in Strategy}
        probs[Strategy.REFLECTION] = 0.7
        probs[Strategy.QUESTION] = 0.3
        return StrategyChoice(Strategy.REFLECTION, probabilities=probs)


def test_reply_streams_in_pieces_and_lands_in_the_transcript():
    chat = ChatSession(streaming("That sounds exhausting. What keeps you awake?"))
    pieces = say(chat, "I can't sleep before exams.")
    assert len(pieces) > 3  # word by word, not one block
    assert "".join(pieces) == "That sounds exhausting. What keeps you awake?"
    d = chat.dialogue
    assert [(t.role, t.text) for t in d.turns] == [
        ("seeker", "I can't sleep before exams."),
        ("supporter", "That sounds exhausting. What keeps you awake?"),
    ]
    assert d.meta.source == "chat" and d.meta.models["seeker"] == "human"
    assert not d.meta.crisis and chat.last_risk is not None and not chat.last_risk.risk


def test_the_model_sees_the_history_and_the_counselor_strategy():
    model = streaming("I hear you.")
    seen = []
    original = model._stream

    def spy(messages, *args, **kwargs):
        seen.append(messages)
        return original(messages, *args, **kwargs)

    object.__setattr__(model, "_stream", spy)
    chat = ChatSession(model, counselor=ProbCounselor())
    say(chat, "My friend ignores me.")
    say(chat, "It hurts.")
    system, *rest = seen[-1]
    assert "Reflection of feelings" in system.content
    assert [m.type for m in rest] == ["human", "ai", "human"]
    assert chat.last_strategy is Strategy.REFLECTION
    assert chat.strategy_probabilities[Strategy.REFLECTION] == 0.7
    assert [t.strategy for t in chat.dialogue.turns if t.role == "supporter"] == [
        Strategy.REFLECTION
    ] * 2
    assert chat.dialogue.meta.models["counselor"] == "probs"


def test_a_prompted_counselor_picks_without_probabilities():
    counselor = PromptedCounselor(FakeListChatModel(responses=["Question"]))
    chat = ChatSession(streaming("What happened?"), counselor=counselor)
    say(chat, "I failed my exam.")
    assert chat.last_strategy is Strategy.QUESTION


def test_a_leading_strategy_tag_is_taken_off_and_recorded_without_counselor():
    chat = ChatSession(streaming("[Question] How long has this been going on?"))
    assert "".join(say(chat, "I feel stuck.")) == "How long has this been going on?"
    assert chat.last_strategy is Strategy.QUESTION
    assert chat.dialogue.turns[-1].text == "How long has this been going on?"


def test_a_crisis_message_gets_a_checked_reply_with_the_locale_resources():
    unsafe = streaming("Cheer up, tomorrow is another day.")
    chat = ChatSession(unsafe, guard=SafetyGuard(locale="en-GB"))
    pieces = say(chat, "I want to kill myself tonight.")
    assert len(pieces) == 1  # checked before it is shown: no raw stream
    reply = pieces[0]
    assert "Samaritans" in reply and "116 123" in reply
    assert "Cheer up" not in reply
    d = chat.dialogue
    assert d.meta.crisis and d.meta.safety["category"] == "suicidal_ideation"
    assert d.meta.safety["turn"] == 0
    assert d.meta.safety["events"][0]["outcome"] == "template"
    assert d.turns[-1].text == reply


def test_a_safe_model_reply_to_a_crisis_message_is_kept():
    good = (
        "I'm really glad you told me, and I'm worried about you. Are you safe right now? "
        "You can call or text 988 any time."
    )
    chat = ChatSession(streaming(good))
    assert say(chat, "I don't want to live anymore.") == [good]
    assert chat.dialogue.meta.safety.get("events") == []


def test_a_streamed_reply_with_method_information_is_withdrawn():
    chat = ChatSession(streaming("Taking 40 pills of 500 mg would be enough."))
    pieces = say(chat, "What a day at work.")
    assert WITHDRAWN in pieces[-1] and pieces[-1].endswith(NEUTRAL_REPLY)
    assert chat.last_withdrawn
    assert chat.dialogue.turns[-1].text == NEUTRAL_REPLY
    assert chat.dialogue.meta.safety["events"][0]["outcome"] == "withdrawn"


def test_save_writes_one_dialogue_atomically(tmp_path):
    chat = ChatSession(streaming("Tell me more."), dialogue_id="c1", problem_type="burnout")
    say(chat, "Work is too much.")
    path = chat.save(tmp_path / "sub" / "chat.jsonl")
    (d,) = read_dialogues(path)
    assert d.id == "c1" and d.problem_type.value == "Burnout" and len(d.turns) == 2
    assert not list(path.parent.glob("*.tmp"))
    assert json.loads(path.read_text())["meta"]["source"] == "chat"


def test_an_empty_message_is_refused():
    chat = ChatSession(streaming("Hi."))
    with pytest.raises(ValueError, match="empty"):
        say(chat, "   ")
    assert chat.dialogue.turns == []


def test_a_wrong_counselor_is_refused_at_once():
    with pytest.raises(TypeError, match="no async method aselect"):
        ChatSession(streaming("Hi."), counselor="Question")  # type: ignore[arg-type]
