"""The detector's trained layer (a logistic-regression head on MiniLM embeddings, shipped as
JSON) and the model check through ``choose``: with a chat model on the project's test server
and with the embedded SmolLM2 scoring by likelihood."""

import numpy as np
import pytest
from langchain_openai import ChatOpenAI

from sweetiechat.quality.head import RiskHead, load_head, shipped_head_exists
from sweetiechat.quality.risk import CATEGORIES, RiskDetector
from sweetiechat.testing import OpenAITestServer


def test_the_shipped_head_is_json_of_the_right_shape():
    assert shipped_head_exists()
    head = load_head()
    assert head.categories == CATEGORIES and head.dim == 384
    assert 0.3 <= head.threshold < 1.0
    trained = head.info["trained_on"]
    assert trained["written"] > 200 and trained["esconv_train_negatives"] > 1000
    assert all(trained["per_category"][c] >= 20 for c in CATEGORIES)


def test_a_head_survives_a_save_and_load_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    head = RiskHead(rng.normal(size=(5, 8)), rng.normal(size=5), threshold=0.7, info={"C": 1})
    path = tmp_path / "head.json"
    head.save(path)
    again = load_head(path)
    vecs = rng.normal(size=(3, 8))
    assert np.allclose(again.probabilities(vecs), head.probabilities(vecs), atol=1e-5)
    assert (again.threshold, again.info) == (0.7, {"C": 1})
    assert head.probabilities(np.zeros((0, 8))).shape == (0, 5)


def test_without_the_semantic_layer_there_is_no_head():
    assert RiskDetector(semantic=False).head is None


@pytest.fixture(scope="module")
def full():
    """Patterns, prototypes, the logistic head and context: the head's own tests run without
    the fine-tuned layer (which can overrule the head)."""
    return RiskDetector(semantic=True, finetuned=False)


#: Written for this test (not in the evaluation or training sets).
INDIRECT = [
    ("I've started saying my goodbyes to people without them knowing.", "suicidal_ideation"),
    pytest.param(
        "Honestly it would be simpler for everyone if I wasn't part of the picture anymore.",
        None,
        marks=pytest.mark.xfail(strict=True, reason="known miss: indirect, no topic word"),
    ),
    ("I keep a lighter by my bed for when I need to feel the burn on my skin.", "self_harm"),
    ("He grabbed me by the throat and said next time he won't stop.", "harm_from_others"),
]
ORDINARY = [
    pytest.param(
        "I'm going to say goodbye to my coworkers on my last day.",
        marks=pytest.mark.xfail(strict=True, reason="known false alarm of the prototypes"),
    ),
    "My girlfriend and I keep fighting about where to live.",
    "I burned the toast again this morning, what a day.",
    "Work has been draining and I need a holiday.",
    "I feel a bit lonely on weekends since my friends moved away.",
]


@pytest.mark.slow
@pytest.mark.parametrize(("text", "category"), INDIRECT)
def test_full_detector_catches_indirect_risk(full, text, category):
    a = full.assess(text)
    assert a.risk, a
    if category:
        assert a.category == category, a


@pytest.mark.slow
@pytest.mark.parametrize("text", ORDINARY)
def test_full_detector_leaves_ordinary_worries_alone(full, text):
    assert not full.assess(text).risk


def test_model_check_through_a_chat_model_on_the_test_server():
    """The check asks the served model once per uncertain message and trusts only a label."""
    answers = iter(["means_request", "none"])
    with OpenAITestServer(lambda request: next(answers, "I am not sure what you mean")) as server:
        model = ChatOpenAI(base_url=server.base_url, api_key="x", model="test-model")
        det = RiskDetector(semantic=False, model=model, model_band=(0.0, 1.0))
        asked = det.assess("Which bridge near here is the highest?", ["I can't do this anymore."])
        assert (asked.risk, asked.category, asked.layer) == (True, "means_request", "model")
        assert not det.assess("Which bridge near here is the prettiest?").risk
        calls = sum(server.calls.values())
        # an answer that is no label: re-asked (choose's reminder), then the offline verdict
        assert not det.assess("Which bridge is the oldest?").risk
        # a pattern decides alone: the model is not asked
        before = sum(server.calls.values())
        assert det.assess("I want to kill myself").layer == "pattern"
        assert sum(server.calls.values()) == before
        system = server.requests[0]["messages"][0]["content"]
    assert calls == 2 and "crisis risk" in system


@pytest.mark.slow
def test_model_check_with_the_embedded_smollm2_by_likelihood():
    from sweetiechat.backends.scoring import LikelihoodChooser

    det = RiskDetector(semantic=False, model=LikelihoodChooser(), model_band=(0.0, 1.0))
    out = det.assess_many(["Which bridge near here is the highest?", "hola"], [[], []])
    assert all(a.category in CATEGORIES for a in out)
    assert all(a.layer in ("model", "none", "language") for a in out)
