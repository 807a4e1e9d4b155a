import pytest

from sweetiechat.taxonomy import (
    CATEGORIES,
    ESCONV_PROBLEM_TYPES,
    PROBLEM_TYPE_WEIGHTS,
    ProblemType,
    Strategy,
    UnknownLabelError,
    parse_problem_type,
    parse_strategy,
)


def test_eight_strategies_in_esconv_order(esconv_dir):
    import json

    labels = json.loads((esconv_dir / "strategy.json").read_text())
    assert [f"[{s.value}]" for s in Strategy] == labels


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[Question]", Strategy.QUESTION),
        ("question", Strategy.QUESTION),
        ("Reflection of Feelings", Strategy.REFLECTION),
        ("self_disclosure", Strategy.SELF_DISCLOSURE),
        ("  Providing Suggestions. ", Strategy.SUGGESTIONS),
        ("Question: to learn more about the job", Strategy.QUESTION),
        ("[Affirmation and Reassurance] You did well.", Strategy.AFFIRMATION),
        ("restatement or paraphrasing", Strategy.RESTATEMENT),
    ],
)
def test_parse_strategy_is_tolerant(text, expected):
    assert parse_strategy(text) is expected


@pytest.mark.parametrize("text", ["Empathy", "", "Questionnaire", "Suggest a therapist"])
def test_parse_strategy_rejects_others_listing_valid_names(text):
    with pytest.raises(UnknownLabelError) as info:
        parse_strategy(text)
    for s in Strategy:
        assert s.value in str(info.value)


def test_problem_types_counts_and_weights():
    assert len(ProblemType) == 45
    assert sum(len(m) for m in CATEGORIES.values()) == 45
    assert sum(PROBLEM_TYPE_WEIGHTS.values()) == 3757
    assert PROBLEM_TYPE_WEIGHTS[ProblemType.ISSUES_WITH_PARENTS] == 335
    assert ProblemType.SELF_HARM.category == "Behavioral Issues"


def test_esconv_problem_types_map_onto_the_45(esconv_dir):
    import json

    seen = set()
    for split in ("train", "valid", "test"):
        for line in (esconv_dir / f"{split}.json").read_text().splitlines():
            seen.add(json.loads(line)["problem_type"])
    for name in seen:
        assert isinstance(parse_problem_type(name), ProblemType)
    assert parse_problem_type("job crisis") is ProblemType.JOB_CRISIS
    assert parse_problem_type("ongoing depression") is ProblemType.ONGOING_DEPRESSION
    assert set(ESCONV_PROBLEM_TYPES) >= {n.lower() for n in seen}


def test_problem_type_aliases_and_errors():
    assert parse_problem_type("OCD") is ProblemType.OCD
    assert parse_problem_type("life transitions") is ProblemType.LIFE_TRANSITIONS
    with pytest.raises(UnknownLabelError, match="problem-types"):
        parse_problem_type("space travel anxiety")
