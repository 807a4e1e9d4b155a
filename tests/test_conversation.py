import asyncio

import pytest

from helpers import fake
from sweetiechat.agents import (
    CounselorAgent,
    FreeSupporterAgent,
    PromptedCounselor,
    SeekerAgent,
    StrategyChoice,
    SupporterAgent,
)
from sweetiechat.backends import Metered, UsageLedger
from sweetiechat.conversation import Conversation
from sweetiechat.taxonomy import Strategy
from sweetiechat.types import Dialogue


def conversation(seeker_lines, counselor_answers=("Question",), **kw) -> Conversation:
    ledger = UsageLedger()
    return Conversation(
        seeker=SeekerAgent(Metered(fake(*seeker_lines), ledger)),
        supporter=SupporterAgent(Metered(fake("I hear you."), ledger)),
        counselor=PromptedCounselor(Metered(fake(*counselor_answers), ledger)),
        problem_type="Job Crisis",
        scenario="I was laid off.",
        profile="Sam, 40, welder.",
        **kw,
    )


def test_turn_order_and_strategies_recorded():
    conv = conversation(
        ["I lost my job.", "It hurts.", "Thanks, bye. [END]"],
        ["Question", "Reflection of feelings"],
    )
    d = conv.run()
    assert [t.role for t in d.turns] == ["seeker", "supporter"] * 2 + ["seeker"]
    assert [t.strategy for t in d.turns if t.role == "supporter"] == [
        Strategy.QUESTION,
        Strategy.REFLECTION,
    ]
    assert d.alternates and d.meta.counselor_fallbacks == 0
    assert d.meta.models["counselor"].startswith("prompted:")
    assert d.meta.usage.calls == 7  # 3 seeker + 2 counselor + 2 supporter
    assert d.meta.timings["roleplay"] >= 0


def test_close_before_minimum_is_ignored_and_turn_limit_stops():
    d = conversation(["Bye. [END]"], min_seeker_turns=3, max_seeker_turns=10).run()
    assert sum(t.role == "seeker" for t in d.turns) == 3  # closes count only from turn 3
    assert d.turns[-1].role == "seeker"
    d = conversation(["Still sad."], max_seeker_turns=4, min_seeker_turns=1).run()
    assert sum(t.role == "seeker" for t in d.turns) == 4
    assert len(d.turns) == 7


def test_fallbacks_are_recorded():
    d = conversation(["Hm.", "Bye [END]"], ["??"], min_seeker_turns=1).run()
    assert d.meta.counselor_fallbacks == 1
    assert d.turns[1].strategy is Strategy.QUESTION


def test_no_counselor_the_supporter_picks():
    conv = Conversation(
        seeker=SeekerAgent(fake("I'm stuck.", "Bye [END]")),
        supporter=FreeSupporterAgent(fake("[Providing Suggestions] Try a walk.", "No tag.")),
        counselor=None,
        problem_type="Burnout",
        min_seeker_turns=1,
    )
    d = conv.run()
    assert d.turns[1].strategy is Strategy.SUGGESTIONS
    assert d.meta.models["counselor"].startswith("none")
    with pytest.raises(ValueError, match="FreeSupporterAgent"):
        Conversation(
            seeker=conv.seeker,
            supporter=SupporterAgent(fake("x")),
            counselor=None,
            problem_type="Burnout",
        )


def test_custom_counselor_subclass_and_crisis_flag():
    class AlwaysAffirm(CounselorAgent):
        async def aselect(self, dialogue: Dialogue) -> StrategyChoice:
            return StrategyChoice(Strategy.AFFIRMATION)

    conv = Conversation(
        seeker=SeekerAgent(fake("Sometimes I want to kill myself.", "Bye [END]")),
        supporter=SupporterAgent(fake("You matter. Are you safe?")),
        counselor=AlwaysAffirm(),
        problem_type="Self-Harm Behaviors",
        min_seeker_turns=1,
    )
    d = conv.run()
    assert d.turns[1].strategy is Strategy.AFFIRMATION
    assert d.meta.crisis is True


def test_arun_in_a_running_loop_and_run_says_await():
    conv = conversation(["Bye [END]"], min_seeker_turns=1)

    async def notebook():
        d = await conv.arun()
        with pytest.raises(RuntimeError, match=r"await conversation\.arun"):
            conv.run()
        return d

    assert asyncio.run(notebook()).turns[0].text == "Bye"


def test_agents_keep_no_state_between_dialogues():
    seeker = SeekerAgent(fake("Hi. [END]"))
    a = Conversation(
        seeker=seeker,
        supporter=SupporterAgent(fake("Yes.")),
        counselor=PromptedCounselor(fake("Others")),
        problem_type="Burnout",
        min_seeker_turns=1,
        dialogue_id="a",
    ).run()
    b = Conversation(
        seeker=seeker,
        supporter=SupporterAgent(fake("Yes.")),
        counselor=PromptedCounselor(fake("Others")),
        problem_type="Burnout",
        min_seeker_turns=1,
        dialogue_id="b",
    ).run()
    assert a.turns == b.turns and a.id != b.id
    assert vars(seeker).keys() == {
        "backend",
        "prompt",
        "window",
        "max_sentences",
        "attempts",
        "model_options",
    }


class _Broken:
    """A chat model stand-in whose every call fails the way a provider error does."""

    name = "broken-model"

    async def acomplete(self, messages, **options):
        raise ConnectionError("connection refused")


def test_a_failing_model_says_which_role_failed():
    from sweetiechat.errors import AgentError

    conv = Conversation(
        seeker=SeekerAgent(fake("I lost my job.")),
        supporter=SupporterAgent(_Broken()),
        counselor=PromptedCounselor(fake("Question")),
        problem_type="Job Crisis",
    )
    with pytest.raises(AgentError) as info:
        conv.run()
    assert str(info.value) == (
        "the supporter (broken-model) failed: ConnectionError: connection refused"
    )
    assert info.value.role == "supporter"
    assert isinstance(info.value.__cause__, ConnectionError)


def test_a_counselor_returning_a_string_gets_a_message_saying_what_to_return():
    class Sloppy(CounselorAgent):
        name = "sloppy"

        async def aselect(self, dialogue):
            return "Question"

    conv = Conversation(
        seeker=SeekerAgent(fake("I lost my job.")),
        supporter=SupporterAgent(fake("I hear you.")),
        counselor=Sloppy(),
        problem_type="Job Crisis",
    )
    with pytest.raises(TypeError, match=r"returned str 'Question'.*must return a StrategyChoice"):
        conv.run()
