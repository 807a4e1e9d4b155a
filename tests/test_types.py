import pytest
from pydantic import ValidationError

from sweetiechat.taxonomy import ProblemType, Strategy
from sweetiechat.types import Dialogue, Turn


def test_supporter_strategy_is_parsed_and_seeker_has_none():
    t = Turn(role="supporter", text="Why?", strategy="[question]")
    assert t.strategy is Strategy.QUESTION
    with pytest.raises(ValidationError, match="seeker turn cannot have a strategy"):
        Turn(role="seeker", text="Hi", strategy="Question")


@pytest.mark.parametrize("text", ["", "   "])
def test_text_must_not_be_empty(text):
    with pytest.raises(ValidationError):
        Turn(role="seeker", text=text)


def test_unknown_strategy_and_role_are_rejected():
    with pytest.raises(ValidationError, match="valid strategies"):
        Turn(role="supporter", text="ok", strategy="Empathy")
    with pytest.raises(ValidationError):
        Turn(role="therapist", text="ok")  # type: ignore[arg-type]


def test_merge_consecutive_makes_roles_alternate():
    d = Dialogue(
        id="x",
        problem_type="job crisis",
        turns=[
            Turn(role="seeker", text="A."),
            Turn(role="seeker", text="B."),
            Turn(role="supporter", text="C?", strategy="Question"),
            Turn(role="supporter", text="D.", strategy="Information"),
        ],
    )
    assert d.problem_type is ProblemType.JOB_CRISIS
    assert not d.alternates
    m = d.merge_consecutive()
    assert m.alternates
    assert [t.text for t in m.turns] == ["A. B.", "C? D."]
    assert m.turns[1].strategy is Strategy.QUESTION
    assert len(d.turns) == 4  # the original is untouched


def test_record_round_trip_and_public_keys():
    d = Dialogue(
        id="x",
        problem_type="Burnout",
        scenario="I work 70 hours a week.",
        profile="Ana, 31, nurse in Lisbon.",
        turns=[
            Turn(role="seeker", text="Hi"),
            Turn(role="supporter", text="Hey", strategy="Others"),
        ],
    )
    record = d.to_record()
    assert set(record) == {"id", "problem_type", "scenario", "profile", "turns", "meta"}
    assert record["turns"][0] == {"role": "seeker", "text": "Hi"}
    assert record["turns"][1] == {"role": "supporter", "text": "Hey", "strategy": "Others"}
    assert record["problem_type"] == "Burnout"
    assert Dialogue.model_validate(record) == d
