"""Counselors: thin users of the backends' ``choose`` (prompted, served) against fakes and the
test server with the real langchain-openai client."""

import pytest
from langchain_openai import ChatOpenAI

from helpers import fake
from sweetiechat.agents import DEFAULT_STRATEGY, PromptedCounselor, ServedCounselor
from sweetiechat.agents.counselor import STRATEGY_OPTIONS, counselor_messages
from sweetiechat.backends import Choice
from sweetiechat.prompts import PromptTemplate
from sweetiechat.taxonomy import Strategy
from sweetiechat.testing import OpenAITestServer
from sweetiechat.testing.script import Reply
from sweetiechat.types import Dialogue, Turn


def dialogue(n_turns: int = 9) -> Dialogue:
    turns = []
    for i in range(n_turns):
        if i % 2 == 0:
            turns.append(Turn(role="seeker", text=f"seeker says {i}"))
        else:
            turns.append(Turn(role="supporter", text=f"supporter says {i}", strategy="Question"))
    return Dialogue(id="d", problem_type="Burnout", turns=turns)


def test_counselor_messages_are_what_every_counselor_sends():
    messages = counselor_messages(dialogue(9))
    assert [r for r, _ in messages] == ["system", "user"]
    user = messages[1][1]
    assert "seeker says 2" not in user and "supporter says 3" in user and "seeker says 8" in user
    assert all(s.value in messages[0][1] for s in Strategy)
    assert counselor_messages(dialogue(9), window=2)[1][1].count("says") == 2
    custom = PromptTemplate(system="Pick.", user="{history}")
    assert counselor_messages(dialogue(1), prompt=custom) == [
        ("system", "Pick."),
        ("user", "Seeker: seeker says 0"),
    ]
    backend = fake("Question")
    PromptedCounselor(backend).select(dialogue(9))
    assert backend.calls[0] == counselor_messages(dialogue(9))


def test_prompted_counselor_parses_retries_then_falls_back():
    assert PromptedCounselor(fake("[Self-disclosure]")).select(dialogue(1)).strategy is (
        Strategy.SELF_DISCLOSURE
    )
    backend = fake("hmm, tough one", "affirmation and reassurance")
    choice = PromptedCounselor(backend).select(dialogue(1))
    assert choice.strategy is Strategy.AFFIRMATION and not choice.fallback
    assert len(backend.calls) == 2
    assert "exactly one of" in backend.calls[1][-1][1]  # the retry reminds of the options
    choice = PromptedCounselor(fake("empathy!")).select(dialogue(1))
    assert choice.fallback and choice.strategy is DEFAULT_STRATEGY
    assert "empathy" in choice.reason


def test_prompted_counselor_defers_to_a_native_chooser():
    class AlwaysOthers:
        name = "others"

        async def acomplete(self, messages, **options):
            raise AssertionError("a native chooser is not asked for text")

        async def achoose(self, messages, options, *, default=None, **kw):
            return Choice("Others", {o: float(o == "Others") for o in options})

    choice = PromptedCounselor(AlwaysOthers()).select(dialogue(1))
    assert choice.strategy is Strategy.OTHERS and choice.probabilities[Strategy.OTHERS] == 1


def _served(server: OpenAITestServer, mode: str, **kw) -> ServedCounselor:
    model = ChatOpenAI(base_url=server.base_url, api_key="EMPTY", model="counselor", max_retries=0)
    return ServedCounselor(model, mode=mode, **kw)


def test_served_counselor_constrained_choice_sends_structured_outputs():
    with OpenAITestServer(script=lambda r: "not a label") as server:
        choice = _served(server, "choice").select(dialogue(1))
        body = server.requests[-1]
    assert body["structured_outputs"]["choice"] == list(STRATEGY_OPTIONS)
    assert isinstance(choice.strategy, Strategy) and not choice.fallback


def test_served_counselor_never_trusts_free_text():
    # A server that ignores the constraint (as vLLM does with the old guided_choice).
    with OpenAITestServer(script=lambda r: "I'd say Question, probably") as server:
        counselor = _served(server, "choice")
        counselor.chooser.request_options = lambda options: {"max_tokens": 16}  # type: ignore[method-assign]
        choice = counselor.select(dialogue(1))
        assert server.calls["counselor"] == 2  # asked once more
    assert choice.fallback and choice.strategy is DEFAULT_STRATEGY
    assert "not an option" in choice.reason


def test_served_counselor_logprobs_give_probabilities():
    with OpenAITestServer(script=lambda r: "Reflection of feelings") as server:
        choice = _served(server, "logprobs").select(dialogue(1))
        body = server.requests[-1]
    assert body["logprobs"] is True and body["top_logprobs"] == 20
    assert (body.get("max_completion_tokens") or body.get("max_tokens")) == 1
    assert choice.strategy is Strategy.REFLECTION and not choice.fallback
    assert choice.probabilities is not None
    assert sum(choice.probabilities.values()) == pytest.approx(1.0)
    assert max(choice.probabilities, key=choice.probabilities.get) is Strategy.REFLECTION
    assert choice.probabilities[Strategy.REFLECTION] == pytest.approx(0.6)


def test_served_counselor_on_a_model_answering_prose_falls_back():
    """Issue 14: a base model answering "The ..." must not turn "I"/"In"/"A" into labels."""
    prose = Reply(
        "The seeker seems tired.",
        top_logprobs=[{"The": -0.4, "I": -1.6, "In": -2.3, "A": -2.5, "It": -3.0}],
    )
    with OpenAITestServer(script=lambda r: prose) as server:
        choice = _served(server, "logprobs").select(dialogue(1))
    assert choice.fallback and choice.strategy is DEFAULT_STRATEGY
    assert "min_mass" in choice.reason and "'The'" in choice.reason


def test_served_counselor_reads_a_label_distribution_with_subword_tokens():
    # First tokens as a real tokenizer splits the names: "Ref", "Rest", "Aff" ...
    top = {"Ref": -0.36, "Rest": -1.61, "Aff": -2.3, "Question": -3.0, "The": -4.0}
    with OpenAITestServer(script=lambda r: Reply("Ref", top_logprobs=[top])) as server:
        choice = _served(server, "logprobs").select(dialogue(1))
        # With the served tokenizer's first tokens known, only exact tokens count.
        first = {s.value: s.value.split()[0] for s in Strategy}
        exact = _served(server, "logprobs", first_tokens=first).select(dialogue(1))
    assert choice.strategy is Strategy.REFLECTION and not choice.fallback
    probs = choice.probabilities
    assert probs[Strategy.RESTATEMENT] > probs[Strategy.AFFIRMATION] > probs[Strategy.QUESTION]
    assert probs[Strategy.OTHERS] == 0 and sum(probs.values()) == pytest.approx(1.0)
    # "Ref", "Rest", "Aff" are no label's whole first token: only "Question" is, far too little.
    assert exact.fallback and "min_mass" in exact.reason
