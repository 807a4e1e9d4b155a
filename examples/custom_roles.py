"""Compose your own role-play setup, as you would in a notebook.

Runs offline as it is (langchain_core's fake chat models stand in for real ones). To use
real models, replace ``fake(...)`` with any LangChain chat model, e.g.
``ChatOpenAI(model="gpt-4o-mini")`` or ``ChatOpenAI(base_url="http://127.0.0.1:8000/v1",
model="counselor", api_key="EMPTY")`` for a vLLM server, or ``LocalChatModel()`` for the
embedded SmolLM2. In a notebook, use ``await conversation.arun()`` instead of ``run()``.

    python examples/custom_roles.py
"""

from __future__ import annotations

from langchain_core.language_models.fake_chat_models import FakeListChatModel

from sweetiechat.agents import (
    CounselorAgent,
    FreeSupporterAgent,
    PromptedCounselor,
    SeekerAgent,
    StrategyChoice,
    SupporterAgent,
)
from sweetiechat.conversation import Conversation
from sweetiechat.prompts import PromptTemplate
from sweetiechat.taxonomy import Strategy
from sweetiechat.types import Dialogue, Scenario, Turn


def fake(*replies: str) -> FakeListChatModel:
    return FakeListChatModel(responses=list(replies))


SEEKER_LINES = [
    "I got rejected from every graduate program I applied to.",
    "I worked so hard for two years and it feels wasted.",
    "Maybe I could apply again next year, but I'm scared.",
    "Thank you, I feel a bit calmer now. Bye! [END]",
]

# 1. A different prompt: a supporter that answers in the voice of a peer mentor.
mentor_prompt = PromptTemplate(
    system=(
        "You are a peer mentor who went through grad-school rejections yourself. "
        "Use this strategy: {strategy} ({strategy_definition}). Two sentences at most."
    ),
    user="Chat so far:\n{history}\n\nYour reply:",
)


# 2. A custom agent subclass: a counselor that explores first, then comforts, then acts
#    (Hill's three stages), by the number of seeker turns so far.
class ThreeStageCounselor(CounselorAgent):
    name = "three-stage"

    async def aselect(self, dialogue: Dialogue) -> StrategyChoice:
        seeker_turns = sum(t.role == "seeker" for t in dialogue.turns)
        stage = [Strategy.QUESTION, Strategy.REFLECTION, Strategy.SUGGESTIONS]
        return StrategyChoice(stage[min(seeker_turns - 1, 2)])


# 3. Two supporters taking turns: a subclass that hands each turn to one of two agents.
class TagTeamSupporter(SupporterAgent):
    def __init__(self, first: SupporterAgent, second: SupporterAgent) -> None:
        super().__init__(first.backend)
        self.first, self.second = first, second

    async def arespond(self, dialogue, strategy, example=None) -> Turn:
        done = sum(t.role == "supporter" for t in dialogue.turns)
        agent = self.first if done % 2 == 0 else self.second
        return await agent.arespond(dialogue, strategy, example)


def main() -> None:
    example = Scenario(
        problem_type="Academic Pressure",
        text="I failed my statistics exam twice and my scholarship depends on passing.",
        turns=(
            Turn(role="seeker", text="I failed again."),
            Turn(
                role="supporter",
                text="That must be so discouraging.",
                strategy="Reflection of feelings",
            ),
        ),
    )
    setup = dict(
        problem_type="Academic Pressure",
        scenario="Every graduate program I applied to rejected me this spring.",
        profile="Noor, 23, female biology graduate in Amman who loves field work.",
        example=example,
        min_seeker_turns=2,
    )

    # A: custom prompt + custom counselor + two supporters
    team = TagTeamSupporter(
        SupporterAgent(
            fake(
                "What part of it weighs on you most?",
                "You could ask one program for feedback on your application.",
            ),
            prompt=mentor_prompt,
        ),
        SupporterAgent(fake("It sounds painful to see two years of work go unrewarded.")),
    )
    a = Conversation(
        seeker=SeekerAgent(fake(*SEEKER_LINES)),
        supporter=team,
        counselor=ThreeStageCounselor(),
        **setup,
    ).run()

    # B: no counselor: the supporter picks its own strategy (the original's baseline)
    b = Conversation(
        seeker=SeekerAgent(fake(*SEEKER_LINES)),
        supporter=FreeSupporterAgent(
            fake(
                "[Question] What did you hope to study?",
                "[Affirmation and Reassurance] Two years of work still count.",
            )
        ),
        counselor=None,
        **setup,
    ).run()

    # C: the standard setup with a prompted counselor
    c = Conversation(
        seeker=SeekerAgent(fake(*SEEKER_LINES)),
        supporter=SupporterAgent(fake("I hear how much this matters to you.")),
        counselor=PromptedCounselor(fake("[Affirmation and Reassurance]")),
        **setup,
    ).run()

    for label, d in (
        ("custom prompt, counselor, two supporters", a),
        ("no counselor", b),
        ("prompted counselor", c),
    ):
        print(f"--- {label} ---")
        for t in d.turns:
            tag = f" [{t.strategy}]" if t.strategy else ""
            print(f"{t.role}{tag}: {t.text}")


if __name__ == "__main__":
    main()
