"""The agents' prompts, parsing and retries, on langchain_core's fake chat models. The
supporter's safety guard reads the seeker's turns here with the precise patterns alone: these
tests are about the agents, and the placeholder turns ("seeker says 0") are no one's words.
What the shipped detector makes of text is tested in tests/test_safety*.py (where "seeker says
0" is a known false alarm of the seventeenth-run adapter)."""

import pytest

from helpers import fake
from sweetiechat.agents import (
    FreeSupporterAgent,
    ProfileWriter,
    ScenarioWriter,
    SeekerAgent,
    SupporterAgent,
)
from sweetiechat.agents.base import AgentError
from sweetiechat.prompts import PROMPT_NAMES, PromptTemplate, load_prompt
from sweetiechat.quality import guard
from sweetiechat.quality.risk import RiskDetector
from sweetiechat.taxonomy import ProblemType, Strategy
from sweetiechat.testing.script import ROLE_MARKERS
from sweetiechat.types import Dialogue, SeekerProfile, Turn


@pytest.fixture(autouse=True)
def patterns_only_guard(monkeypatch):
    patterns = RiskDetector(semantic=False)
    monkeypatch.setattr(guard, "default_detector", lambda: patterns)


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
    system, user = backend.calls[0][0][1], backend.calls[0][1][1]
    # The turn's strategy comes after the conversation, so that everything before it (system
    # prompt, example, history) is the same prompt start as the previous supporter turn's and
    # a local model reuses its keys/values instead of prefilling it again.
    assert Strategy.REFLECTION.definition not in system
    assert user.index(Strategy.REFLECTION.definition) > user.index(dialogue(1).turns[-1].text)


def test_consecutive_prompts_of_a_role_start_alike_up_to_the_new_lines():
    """A role's next prompt repeats its previous one up to the new utterances, so a local
    model's prefix cache reuses it (the supporter's per-turn strategy comes last)."""
    for agent_type, args in ((SupporterAgent, ("Question",)), (SeekerAgent, ())):
        backend = fake("Okay.")
        agent = agent_type(backend)
        first_dialogue, next_dialogue = dialogue(1 if args else 2), dialogue(3 if args else 4)
        agent.respond(first_dialogue, *args)
        agent.respond(next_dialogue, *(("Affirmation and Reassurance",) if args else ()))
        (s1, u1), (s2, u2) = ([m[1] for m in call] for call in backend.calls)
        assert s1 == s2
        same = next((i for i, (a, b) in enumerate(zip(u1, u2, strict=False)) if a != b), len(u1))
        shared = u1[:same]
        assert first_dialogue.turns[-1].text in shared


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
    with pytest.warns(UserWarning, match=r"no \{safety\} placeholder"):
        agent = SupporterAgent(backend, prompt=override)  # crisis protocol would be lost
    agent.respond(dialogue(1), "Others")
    assert backend.calls[0][0] == ("system", "Be kind. Others")
    custom = PromptTemplate(system="S {history}", user="U")
    backend = fake("ok")
    SupporterAgent(backend, prompt=custom, safety=False).respond(dialogue(1), "Others")
    assert backend.calls[0][1] == ("user", "U")
