"""Safe replies: the reply check, the templates, the supporter's regenerate-or-template loop,
``meta.safety``, and the check ``clean`` uses on supporter turns."""

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from sweetiechat.agents import FreeSupporterAgent, PromptedCounselor, SeekerAgent, SupporterAgent
from sweetiechat.conversation import Conversation
from sweetiechat.quality.resources import load_resources
from sweetiechat.quality.risk import RiskAssessment, RiskDetector
from sweetiechat.safety import (
    SafetyGuard,
    check_reply,
    crisis_template,
    unsafe_supporter_turns,
)
from sweetiechat.taxonomy import Strategy
from sweetiechat.types import Dialogue, Turn

CATEGORIES = ["suicidal_ideation", "self_harm", "harm_from_others", "means_request"]
MEANS = [
    "You'd need about 40 pills of 500 mg, that should do it.",
    "The quickest way is to jump from at least 10 floors.",
    "Tie the rope to something high and it works best.",
    "A lethal dose of that is around 5 grams.",
]
GOOD = (
    "I'm really sorry you're in so much pain, and I'm glad you told me. Are you safe right "
    "now? You can call or text 988 at any time."
)


def risk(category="suicidal_ideation"):
    return RiskAssessment(True, category, 1.0, "pattern")


@pytest.fixture(scope="module")
def guard():
    return SafetyGuard(detector=RiskDetector(semantic=False), max_tries=2)


def dialogue(*seeker_texts):
    turns = []
    for i, text in enumerate(seeker_texts):
        if i:
            turns.append(Turn(role="supporter", text="I hear you.", strategy="Question"))
        turns.append(Turn(role="seeker", text=text))
    return Dialogue(id="d", problem_type="Ongoing Depression", turns=turns)


@pytest.mark.parametrize("reply", MEANS)
def test_method_information_fails_the_check_in_any_dialogue(reply):
    assert not check_reply(reply, risk("means_request")).ok
    assert not check_reply(reply, RiskAssessment(False, "none", 0, "none")).ok


def test_a_safe_reply_passes_and_unsafe_ones_say_why():
    assert check_reply(GOOD, risk()).ok
    ignored = check_reply("What did you have for dinner?", risk())
    assert ignored.problems == [
        "does not acknowledge what the seeker said",
        "neither asks about safety nor points to help",
    ]
    dismissed = check_reply("I hear you, but you don't really mean that. Call a friend.", risk())
    assert not dismissed.ok and "dismisses the risk" in dismissed.problems[0]
    # a means request also rejects naming the means, unless it is about putting it away
    assert not check_reply(GOOD + " Pills are not the answer.", risk("means_request")).ok
    assert check_reply(
        GOOD + " Could you put the pills away for tonight?", risk("means_request")
    ).ok
    # ordinary replies to ordinary messages pass
    assert check_reply("What happened at work?", RiskAssessment(False, "none", 0, "none")).ok


@pytest.mark.parametrize("locale", ["en-US", "en-GB", "en-IE", "en-CA", "en-AU", "en-NZ"])
@pytest.mark.parametrize("category", CATEGORIES)
def test_every_template_passes_the_check_and_names_the_locales_numbers(locale, category):
    r = load_resources(locale=locale)
    text = crisis_template(category, r)
    assert check_reply(text, risk(category)).ok, text
    assert r.emergency in text or r.crisis_line.contact in text


def test_means_request_is_never_answered_with_means_even_by_a_model_that_tries(guard):
    d = dialogue("How many of my sleeping pills would it take to not wake up?")
    agent = SupporterAgent(FakeListChatModel(responses=MEANS), safety=guard)
    turn = agent.respond(d, "Information")
    assert turn.text == crisis_template("means_request", guard.crisis_resources)
    assert turn.strategy is Strategy.INFORMATION
    assert check_reply(turn.text, risk("means_request")).ok
    # the crisis protocol was in the instructions of every try
    free = FreeSupporterAgent(
        FakeListChatModel(responses=["[Information] " + m for m in MEANS]), safety=guard
    )
    assert free.respond(d).text == turn.text


def test_instructions_change_with_the_category(guard):
    assert guard.instruction(RiskAssessment(False, "none", 0, "none")) == ""
    means = guard.instruction(risk("means_request"))
    assert "Do not answer the question" in means and "988" in means
    other = guard.instruction(risk("harm_from_others"))
    assert "safe from that person" in other and "911" in other
    uk = SafetyGuard(detector=RiskDetector(semantic=False), locale="en-GB")
    assert "116 123" in uk.instruction(risk())


def test_a_failing_reply_is_regenerated_and_the_events_land_in_meta(guard):
    seeker = SeekerAgent(
        FakeListChatModel(responses=["I've been cutting myself again.", "Thanks. [END]"])
    )
    supporter = SupporterAgent(
        FakeListChatModel(responses=["Cut along the vein, it works better.", GOOD]), safety=guard
    )
    conv = Conversation(
        seeker=seeker,
        supporter=supporter,
        counselor=PromptedCounselor(FakeListChatModel(responses=["Question"])),
        problem_type="Ongoing Depression",
        min_seeker_turns=1,
    )
    d = conv.run()
    assert d.turns[1].text == GOOD
    assert d.meta.crisis
    safety = d.model_dump()["meta"]["safety"]
    assert (safety["turn"], safety["category"], safety["layer"]) == (0, "self_harm", "pattern")
    [event] = safety["events"]
    assert (event["turn"], event["outcome"], event["failed_tries"]) == (1, "regenerated", 1)
    assert "method information" in event["problems"][0][0]
    again = Dialogue.model_validate_json(d.model_dump_json())  # survives the JSONL round trip
    assert again.model_dump()["meta"]["safety"] == safety


def test_ordinary_dialogues_carry_no_safety_meta(guard):
    conv = Conversation(
        seeker=SeekerAgent(FakeListChatModel(responses=["My cat is ill.", "Thanks. [END]"])),
        supporter=SupporterAgent(FakeListChatModel(responses=["That's hard."]), safety=guard),
        counselor=PromptedCounselor(FakeListChatModel(responses=["Question"])),
        problem_type="Ongoing Depression",
        min_seeker_turns=1,
    )
    d = conv.run()
    assert not d.meta.crisis and "safety" not in d.model_dump()["meta"]


def test_unsafe_supporter_turns_for_clean():
    d = Dialogue(
        id="d",
        problem_type="Ongoing Depression",
        turns=[
            Turn(role="seeker", text="I don't want to live anymore."),
            Turn(
                role="supporter", text="Everyone feels that way, just cheer up!", strategy="Others"
            ),
            Turn(role="seeker", text="My exams went badly too."),
            Turn(role="supporter", text=MEANS[0], strategy="Information"),
            Turn(role="seeker", text="I'm tired of it all."),
            Turn(role="supporter", text="That sounds exhausting. What helps?", strategy="Question"),
        ],
    )
    found = unsafe_supporter_turns(d, RiskDetector(semantic=False))
    assert [u.index for u in found] == [1, 3]
    assert "dismisses the risk" in found[0].reason
    assert "method information" in found[1].reason


def test_guard_rejects_bad_settings():
    with pytest.raises(ValueError, match="max_tries"):
        SafetyGuard(detector=RiskDetector(semantic=False), max_tries=0)


def test_after_the_risk_is_handled_ordinary_replies_pass_but_means_never_do(guard):
    d = dialogue("I want to die.", "Thanks, I'll call my sister.")
    follow_up = SupporterAgent(FakeListChatModel(responses=["That sounds like a good step."]))
    follow_up.safety = guard
    assert follow_up.respond(d, "Affirmation").text == "That sounds like a good step."
    assert "Safety first" in guard.instruction(guard.assess(d.turns))  # protocol stays on
    means = SupporterAgent(FakeListChatModel(responses=MEANS), safety=guard)
    assert means.respond(d, "Information").text == crisis_template(
        "suicidal_ideation", guard.crisis_resources
    )


def test_a_model_checked_detector_works_inside_the_supporters_event_loop():
    detector = RiskDetector(
        semantic=False, model=FakeListChatModel(responses=["harm_from_others"]), model_band=(0, 1)
    )
    guard = SafetyGuard(detector=detector, max_tries=1)
    backend = FakeListChatModel(responses=["What happened next?"])
    turn = SupporterAgent(backend, safety=guard).respond(
        dialogue("He waits for me outside every night."), "Question"
    )
    assert turn.text == crisis_template("harm_from_others", guard.crisis_resources)


def test_ordinary_advice_is_not_method_information():
    from sweetiechat.quality.replies import method_information

    for advice in (
        "Maybe try a 10 minute walk after lunch.",
        "Take 5 minutes to breathe before you answer him.",
        "It takes time to get over a breakup, and that is okay.",
    ):
        assert method_information(advice) is None, advice
    assert method_information("You would need 30 pills for that.") is not None
    assert method_information("Ten floors up from the roof would do it.") is not None


def test_a_means_request_keeps_later_checks_strict_and_no_risk_gets_no_crisis_template():
    import asyncio

    from sweetiechat.quality.guard import NEUTRAL_REPLY, SafetyGuard, _pick
    from sweetiechat.quality.risk import RiskAssessment

    means = RiskAssessment(True, "means_request", 0.9, "patterns")
    ideation = RiskAssessment(True, "suicidal_ideation", 0.9, "patterns")
    _, check = _pick([means, ideation])
    assert check.category == "means_request" and check.risk

    async def bad_reply() -> str:
        return "You would need 30 pills for that."

    none = RiskAssessment(False, "none", 0.0, "patterns")
    text, templated = asyncio.run(SafetyGuard(max_tries=2).areply(bad_reply, none, 1))
    assert templated and text == NEUTRAL_REPLY
