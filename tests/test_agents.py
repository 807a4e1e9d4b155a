import asyncio

import pytest
from langchain_openai import ChatOpenAI

from helpers import fake
from sweetiechat.agents import (
    DEFAULT_STRATEGY,
    FreeSupporterAgent,
    ProfileWriter,
    PromptedCounselor,
    ScenarioWriter,
    SeekerAgent,
    ServedCounselor,
    SupporterAgent,
)
from sweetiechat.agents.base import AgentError
from sweetiechat.prompts import PROMPT_NAMES, PromptTemplate, load_prompt
from sweetiechat.taxonomy import ProblemType, Strategy
from sweetiechat.testing import OpenAITestServer
from sweetiechat.testing.script import ROLE_MARKERS
from sweetiechat.types import Dialogue, SeekerProfile, Turn


def dialogue(n_turns: int = 9) -> Dialogue:
    turns = []
    for i in range(n_turns):
        if i % 2 == 0:
            turns.append(Turn(role="seeker", text=f"seeker says {i}"))
        else:
            turns.append(Turn(role="supporter", text=f"supporter says {i}", strategy="Question"))
    return Dialogue(
        id="d",
        problem_type="Burnout",
        scenario="I work 80 hours.",
        profile="Ana, 30, nurse.",
        turns=turns,
    )


def test_every_role_sees_only_the_last_six_utterances():
    backend = fake("Okay.")
    SeekerAgent(backend).respond(dialogue(9))
    user = backend.calls[0][1][1]
    assert "seeker says 2" not in user and "supporter says 3" in user and "seeker says 8" in user
    assert user.count("Seeker:") + user.count("Supporter:") == 6
    backend = fake("Why?")
    SupporterAgent(backend).respond(dialogue(9), "Question")
    assert "supporter says 3" in backend.calls[0][1][1]
    assert "seeker says 2" not in backend.calls[0][1][1]


def test_seeker_closes_with_end_marker_and_text_is_cleaned():
    reply = SeekerAgent(fake('Seeker: "Thank you so much. Bye! [END]"')).respond(dialogue(3))
    assert reply.closes and reply.text == "Thank you so much. Bye!"
    reply = SeekerAgent(fake("One. Two. Three. Four.")).respond(dialogue(3))
    assert not reply.closes and reply.text == "One. Two. Three."


def test_seeker_prompt_carries_persona_and_opening():
    backend = fake("Hi, I'm exhausted.")
    SeekerAgent(backend).respond(dialogue(0))
    system, user = backend.calls[0][0][1], backend.calls[0][1][1]
    assert "Ana, 30, nurse." in system and "I work 80 hours." in system
    assert "just started" in user


def test_supporter_gets_strategy_definition_and_records_it():
    backend = fake("Supporter: [Question] What wears you out the most? Tell me.")
    turn = SupporterAgent(backend).respond(dialogue(1), "reflection of feelings")
    assert turn.strategy is Strategy.REFLECTION
    assert turn.text == "What wears you out the most? Tell me."
    assert Strategy.REFLECTION.definition in backend.calls[0][0][1]


def test_supporter_safety_instruction_on_crisis():
    d = dialogue(1).model_copy(
        update={"turns": [Turn(role="seeker", text="I keep thinking about ending my life.")]}
    )
    backend = fake("Are you safe right now?")
    SupporterAgent(backend).respond(d, "Question")
    assert "crisis line" in backend.calls[0][0][1]
    backend = fake("Why?")
    SupporterAgent(backend).respond(dialogue(1), "Question")
    assert "crisis line" not in backend.calls[0][0][1]


def test_empty_answers_are_retried_then_fail_clearly():
    backend = fake("Supporter:", "Real answer.")
    assert SupporterAgent(backend).respond(dialogue(1), "Others").text == "Real answer."
    with pytest.raises(AgentError, match="no usable text"):
        SupporterAgent(fake("Supporter:"), attempts=2).respond(dialogue(1), "Others")


def test_free_supporter_parses_its_own_strategy():
    turn = FreeSupporterAgent(fake("[Information] Many people feel this.")).respond(dialogue(1))
    assert turn.strategy is Strategy.INFORMATION and turn.text == "Many people feel this."
    turn = FreeSupporterAgent(fake("No tag here.")).respond(dialogue(1))
    assert turn.strategy is None


def test_prompted_counselor_parses_retries_then_falls_back():
    assert PromptedCounselor(fake("[Self-disclosure]")).select(dialogue(1)).strategy is (
        Strategy.SELF_DISCLOSURE
    )
    backend = fake("hmm, tough one", "affirmation and reassurance")
    choice = PromptedCounselor(backend).select(dialogue(1))
    assert choice.strategy is Strategy.AFFIRMATION and not choice.fallback
    assert len(backend.calls) == 2
    choice = PromptedCounselor(fake("empathy!")).select(dialogue(1))
    assert choice.fallback and choice.strategy is DEFAULT_STRATEGY
    assert "empathy" in choice.reason


def _served(server: OpenAITestServer, mode: str) -> ServedCounselor:
    model = ChatOpenAI(base_url=server.base_url, api_key="x", model="counselor", max_retries=0)
    return ServedCounselor(model, mode=mode)


def test_served_counselor_constrained_choice_sends_structured_outputs():
    with OpenAITestServer(script=lambda r: "not a label") as server:
        choice = _served(server, "choice").select(dialogue(1))
        body = server.requests[-1]
    assert body["structured_outputs"]["choice"] == [s.value for s in Strategy]
    assert isinstance(choice.strategy, Strategy) and not choice.fallback


def test_served_counselor_never_trusts_free_text():
    # A server that ignores the constraint (as vLLM does with the old guided_choice).
    with OpenAITestServer(script=lambda r: "Question") as server:
        server.shared.script = lambda r: "I'd say Question, probably"
        counselor = _served(server, "choice")

        async def ignore_constraint():
            counselor._options = lambda: {"max_tokens": 16}  # type: ignore[method-assign]
            return await counselor.aselect(dialogue(1))

        choice = asyncio.run(ignore_constraint())
    assert choice.fallback and choice.strategy is DEFAULT_STRATEGY


def test_served_counselor_logprobs_give_probabilities():
    with OpenAITestServer(script=lambda r: "Reflection of feelings") as server:
        choice = _served(server, "logprobs").select(dialogue(1))
        body = server.requests[-1]
    assert body["logprobs"] is True and body["top_logprobs"] == 20
    assert choice.strategy is Strategy.REFLECTION
    assert choice.probabilities is not None
    assert sum(choice.probabilities.values()) == pytest.approx(1.0)
    assert max(choice.probabilities, key=choice.probabilities.get) is Strategy.REFLECTION


def test_writers():
    scenario = ScenarioWriter(
        fake(
            "Too short.",
            "Last month my landlord told me I have two "
            "weeks to leave the flat I have lived in for ten years, and "
            "I cannot find anything I can afford.",
        )
    )
    s = scenario.write(ProblemType.FINANCIAL_PROBLEMS, None)
    assert len(s.text.split()) > 20 and s.problem_type is ProblemType.FINANCIAL_PROBLEMS
    example = SeekerProfile(problem_type="Burnout", scenario="x", text="Ana, 30, nurse in Porto.")
    backend = fake("Profile: Ben, 41, male chef in Leeds who loves fishing.")
    p = ProfileWriter(backend).write(ProblemType.JOB_CRISIS, s.text, example)
    assert p.text == "Ben, 41, male chef in Leeds who loves fishing."
    assert "Ana, 30, nurse in Porto." in backend.calls[0][1][1]


def test_prompts_are_package_data_overridable(tmp_path):
    for name in PROMPT_NAMES:
        assert load_prompt(name).system
    for role, marker in ROLE_MARKERS.items():
        assert load_prompt(role).system.startswith(marker)
    (tmp_path / "supporter.txt").write_text("Be kind. {strategy}\n---user---\n{history}")
    override = load_prompt("supporter", tmp_path)
    backend = fake("Sure.")
    SupporterAgent(backend, prompt=override).respond(dialogue(1), "Others")
    assert backend.calls[0][0] == ("system", "Be kind. Others")
    custom = PromptTemplate(system="S {history}", user="U")
    backend = fake("ok")
    SupporterAgent(backend, prompt=custom).respond(dialogue(1), "Others")
    assert backend.calls[0][1] == ("user", "U")
