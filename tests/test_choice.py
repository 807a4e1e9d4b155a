"""choose: one way for any backend to pick among labels."""

import asyncio

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_openai import ChatOpenAI

from helpers import Recording, fake
from sweetiechat.backends import (
    Choice,
    LangChainBackend,
    Metered,
    RateLimited,
    Retrying,
    ServedChooser,
    UsageLedger,
    achoose,
    choose,
    parse_choice,
)
from sweetiechat.backends.served import first_token_label, label_first_tokens, logprob_choice
from sweetiechat.testing import OpenAITestServer
from sweetiechat.testing.script import Reply

ASK = [("user", "Is the sky blue? Answer Yes or No.")]
STRATEGIES = [
    "Question",
    "Restatement or Paraphrasing",
    "Reflection of feelings",
    "Self-disclosure",
    "Affirmation and Reassurance",
    "Providing Suggestions",
    "Information",
    "Others",
]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("Yes", "Yes"),
        ("  **yes.**", "Yes"),
        ('"No"', "No"),
        ("No: it is grey today", "No"),
        ("I think the answer is yes.", "Yes"),
        ("yes and no", None),
        ("Maybe", None),
        ("", None),
    ],
)
def test_parse_choice(answer, expected):
    assert parse_choice(answer, ["Yes", "No"]) == expected


def test_parse_choice_prefers_the_longer_option_it_contains():
    options = ["Information", "Providing Information"]
    assert parse_choice("I'd go with providing information here", options) == options[1]


def test_options_and_default_are_checked():
    for bad in ([], ["Yes", "Yes"], ["Yes", ""]):
        with pytest.raises(ValueError):
            choose(fake("Yes"), ASK, bad)
    with pytest.raises(ValueError, match="not one of the options"):
        choose(fake("Yes"), ASK, ["Yes", "No"], default="Maybe")


def test_a_chat_model_is_asked_again_then_falls_back_to_the_default():
    backend = fake("Hmm, hard to say.", "No")
    assert choose(backend, ASK, ["Yes", "No"]) == Choice("No")
    assert backend.calls[1][:1] == ASK and backend.calls[1][1] == (
        "assistant",
        "Hmm, hard to say.",
    )
    assert "exactly one of" in backend.calls[1][2][1] and "Yes; No" in backend.calls[1][2][1]
    choice = choose(fake("Maybe."), ASK, ["Yes", "No"], default="No")
    assert choice.label == "No" and choice.fallback and "Maybe" in choice.reason
    assert choose(fake("Maybe."), ASK, ["Yes", "No"]).label == "Yes"  # first option by default
    backend = fake("Maybe.")
    choose(backend, ASK, ["Yes", "No"], attempts=3, max_tokens=5)
    assert len(backend.calls) == 3 and backend.options[0] == {"max_tokens": 5}


def test_a_raw_langchain_model_and_a_custom_parser():
    model = FakeListChatModel(responses=["Aye"])
    assert choose(model, ASK, ["Yes", "No"], parse=lambda t: "Yes" if "aye" in t.lower() else None)
    assert choose(model, ASK, ["Yes", "No"]).fallback


class Native:
    """A chooser that decides on its own, failing transiently the first ``fail`` times."""

    name = "native"

    def __init__(self, label: str = "No", fail: int = 0) -> None:
        self.label, self.fail, self.calls = label, fail, 0

    async def acomplete(self, messages, **options):
        raise AssertionError("a native chooser is not asked for text")

    async def achoose(self, messages, options, *, default=None):
        self.calls += 1
        if self.calls <= self.fail:
            raise ConnectionError("flaky")
        return Choice(self.label, {o: float(o == self.label) for o in options})


def test_a_native_chooser_decides_and_a_bad_label_falls_back():
    assert choose(Native("No"), ASK, ["Yes", "No"]).probabilities == {"Yes": 0.0, "No": 1.0}
    # The asking path's keywords are not forced on a chooser that does not take them.
    assert choose(Native("No"), ASK, ["Yes", "No"], parse=str, max_tokens=4).label == "No"
    choice = choose(Native("Perhaps"), ASK, ["Yes", "No"], default="No")
    assert choice.fallback and choice.label == "No" and "Perhaps" in choice.reason


def test_wrappers_pass_achoose_through():
    native = Native("Yes", fail=1)
    ledger = UsageLedger()
    wrapped = Metered(
        RateLimited(Retrying(native, wait_min=0.001), requests_per_minute=600), ledger
    )
    assert choose(wrapped, ASK, ["Yes", "No"]).label == "Yes"
    assert native.calls == 2  # retried once by Retrying
    assert ledger.total.calls == 1
    # Over a plain chat model, the wrappers ask: every model call is metered with its tokens.
    ledger = UsageLedger()
    inner = fake("Unsure.", "No")
    assert choose(Metered(Retrying(inner), ledger), ASK, ["Yes", "No"]).label == "No"
    assert ledger.total.calls == 2 and len(inner.calls) == 2


def test_choose_twice_with_a_real_client_and_served_modes():
    with OpenAITestServer(script=lambda r: "No") as server:
        model = ChatOpenAI(base_url=server.base_url, api_key="EMPTY", model="m", max_retries=0)
        for _ in range(3):  # the sync twin keeps working with one client
            assert choose(model, ASK, ["Yes", "No"]) == Choice("No")
        served = ServedChooser(model, mode="choice")
        assert choose(served, ASK, ["Yes", "No"]).label in ("Yes", "No")
        assert server.requests[-1]["structured_outputs"] == {"choice": ["Yes", "No"]}
        server.shared.script = lambda r: Reply("Yes", top_logprobs=[{"Yes": -0.1, "No": -2.4}])
        choice = choose(ServedChooser(model, mode="logprobs"), ASK, ["Yes", "No"])
    assert choice.label == "Yes" and choice.probabilities["Yes"] == pytest.approx(0.909, abs=1e-3)


def test_the_logprobs_rule():
    # Issue 14: prose starting with "The" is no label, whatever "I", "In" and "A" begin.
    top = {"The": -0.3, "I": -1.8, "In": -2.5, "A": -2.6}
    assert logprob_choice(top, STRATEGIES)[0] is None
    assert [first_token_label(t, STRATEGIES) for t in top] == [None] * 4
    assert first_token_label(" Self", STRATEGIES) == "Self-disclosure"
    assert first_token_label("\u0120Prov", STRATEGIES) == "Providing Suggestions"
    assert first_token_label("Re", STRATEGIES) is None  # ambiguous
    # Label tokens with too little of the mass fall back too (default min_mass 0.5).
    probs, reason = logprob_choice({"The": -0.2, "Question": -2.0}, STRATEGIES)
    assert probs is None and "0.14" in reason and "'The'" in reason
    probs, _ = logprob_choice({"The": -0.2, "Question": -2.0}, STRATEGIES, min_mass=0.1)
    assert probs is not None and probs["Question"] == 1.0
    # Two tokens of one label add up.
    probs, _ = logprob_choice({"Info": -1.0, " Information": -1.0, "Others": -1.0}, STRATEGIES)
    assert probs is not None and probs["Information"] == pytest.approx(2 / 3)


class WordTokenizer:
    """A tokenizer that splits on spaces and hyphens (enough to test first tokens)."""

    def __init__(self) -> None:
        self.vocab: list[str] = []

    def encode(self, text, add_special_tokens=False):
        import re

        pieces = re.findall(r"\w+|[^\w\s]", text)
        for p in pieces:
            if p not in self.vocab:
                self.vocab.append(p)
        return [self.vocab.index(p) for p in pieces]

    def decode(self, ids):
        return "".join(self.vocab[i] for i in ids)


def test_first_tokens_from_a_tokenizer():
    first = label_first_tokens(STRATEGIES, WordTokenizer())
    assert first["Self-disclosure"] == "Self" and first["Restatement or Paraphrasing"] == (
        "Restatement"
    )
    with pytest.raises(ValueError, match="cannot tell them apart"):
        label_first_tokens(["Self-care", "Self-disclosure"], WordTokenizer())
    top = {"Self": -0.1, "Selfish": -3.0}
    with OpenAITestServer(script=lambda r: Reply("Self", top_logprobs=[top])) as server:
        served = ServedChooser(
            ChatOpenAI(base_url=server.base_url, api_key="EMPTY", model="m", max_retries=0),
            mode="logprobs",
            tokenizer=WordTokenizer(),
        )
        choice = asyncio.run(achoose(served, ASK, STRATEGIES))
    assert choice.label == "Self-disclosure" and not choice.fallback


def test_served_logprobs_without_logprobs_is_a_counted_fallback():
    backend = Recording(LangChainBackend(FakeListChatModel(responses=["Yes"])))
    choice = choose(ServedChooser(backend, mode="logprobs"), ASK, ["Yes", "No"], default="No")
    assert choice.fallback and choice.label == "No" and "no logprobs" in choice.reason
    assert len(backend.calls) == 2
