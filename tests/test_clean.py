"""The filters of ``sweetiechat clean``: each one catches crafted dialogues it must catch and
lets through ones it must not; repairs are recorded; no dialogue is lost."""

from __future__ import annotations

import json
import random

import pytest

from sweetiechat.errors import ConfigError
from sweetiechat.io import DataError, write_dialogues
from sweetiechat.quality.clean import clean_file
from sweetiechat.quality.clean_models import ModelChecks
from sweetiechat.quality.clean_report import build_config
from sweetiechat.quality.filters import (
    CleanConfig,
    check_rules,
    cut_closings,
    is_closing,
    malformed_profile,
    malformed_scenario,
)
from sweetiechat.safety import RiskDetector
from sweetiechat.types import Dialogue, Turn

SCENARIO = (
    "Last month I was laid off from the warehouse where I worked for six years, and since "
    "then I have been hiding it from my wife because I am ashamed."
)
PROFILE = (
    "Dan, 41, a male forklift driver in Ohio who loves fishing and rarely talks about feelings."
)
SEEKER = [
    "I lost my job last month and I haven't told my wife yet.",
    "I'm ashamed. She thinks I still go to work every morning.",
    "I sit in the library all day looking at job ads.",
    "Maybe I could tell her this weekend when the kids are at her mother's.",
    "I'm scared she will be angry that I lied for so long.",
]
SUPPORTER = [
    "That sounds like a heavy secret to carry. How long has it been?",
    "It makes sense that you feel ashamed, but losing a job is not a failing.",
    "What do you think would happen if you told her?",
    "That sounds like a thoughtful plan. What would you want to say first?",
    "Her anger may be real, and so is the relief of not carrying this alone.",
]

ONLY_RULES = ["role_inconsistency", "off_scenario", "near_duplicate", "unsafe_supporter"]


def dialogue(
    n: int = 8,
    *,
    id: str = "d",
    scenario: str | None = SCENARIO,
    profile: str | None = PROFILE,
    extra: list[tuple[str, str]] = (),  # type: ignore[assignment]
) -> Dialogue:
    turns = []
    for i in range(n):
        if i % 2 == 0:
            turns.append(Turn(role="seeker", text=SEEKER[(i // 2) % len(SEEKER)]))
        else:
            turns.append(
                Turn(
                    role="supporter", text=SUPPORTER[(i // 2) % len(SUPPORTER)], strategy="Question"
                )
            )
    turns += [
        Turn(role=r, text=t, strategy="Others" if r == "supporter" else None)  # type: ignore[arg-type]
        for r, t in extra
    ]
    return Dialogue(
        id=id, problem_type="Job Crisis", scenario=scenario, profile=profile, turns=turns
    )


def rules(d: Dialogue, **settings):
    return check_rules(d, CleanConfig(disable=ONLY_RULES, **settings))


# -- redundant greetings ---------------------------------------------------------------------

GOODBYES = [
    ("seeker", "Thank you so much, this really helped. Goodbye!"),
    ("supporter", "You're welcome, take care!"),
    ("seeker", "Thanks again, bye!"),
    ("supporter", "Bye, have a good night."),
    ("seeker", "Thank you! [END]"),
]


def test_trailing_goodbyes_are_cut_to_one_exchange_and_recorded():
    v = rules(dialogue(8, extra=GOODBYES))
    assert v.reasons == []
    assert [t.text for t in v.dialogue.turns[-2:]] == [GOODBYES[0][1], GOODBYES[1][1]]
    assert len(v.dialogue.turns) == 10
    assert {
        "code": "redundant_greetings",
        "detail": "cut 3 trailing thank-you/farewell utterance(s)",
    } in v.repairs


def test_one_goodbye_exchange_and_thanks_with_substance_are_kept():
    v = rules(dialogue(8, extra=GOODBYES[:2]))
    assert v.repairs == [] and len(v.dialogue.turns) == 10
    substance = [("seeker", "Thanks, but I still can't sleep. What should I do?")] * 3
    assert not is_closing(substance[0][1])
    turns = dialogue(8, extra=substance).turns
    assert cut_closings(turns) == (turns, 0)


def test_redundant_greetings_can_reject_instead():
    v = rules(dialogue(8, extra=GOODBYES), greetings_action="reject")
    assert v.reasons == ["redundant_greetings"]


# -- length bounds ---------------------------------------------------------------------------


def test_too_short_is_rejected_and_enough_is_not():
    assert rules(dialogue(3)).reasons == ["too_short"]
    assert rules(dialogue(4)).reasons == []
    assert rules(dialogue(5), min_turns=6).reasons == ["too_short"]


def test_too_long_dialogue_is_cut_or_rejected():
    v = rules(dialogue(30), max_turns=12)
    assert v.reasons == [] and len(v.dialogue.turns) == 12
    assert v.repairs == [{"code": "too_long", "detail": "cut 30 utterances, more than 12"}]
    assert rules(dialogue(30), max_turns=12, long_action="reject").reasons == ["too_long"]
    assert rules(dialogue(12), max_turns=12).repairs == []


def test_long_utterances_are_cut_to_three_sentences():
    long = "I lost my job. I hid it. I feel awful. I can't sleep. My wife suspects."
    v = rules(dialogue(6, extra=[("seeker", long)]))
    assert v.dialogue.turns[-1].text == "I lost my job. I hid it. I feel awful."
    assert v.repairs == [{"code": "too_long", "detail": "1 utterance(s) cut to 3 sentences"}]
    assert rules(dialogue(6, extra=[("seeker", long)]), max_sentences=5).repairs == []


# -- scenario and profile --------------------------------------------------------------------

SMOLLM2_SCENARIOS = [
    "In this story, you can create an even more compelling narrative by incorporating your "
    "own experiences.",
    "I'm so sorry to hear that you've lost your job due to company restructuring. How did it "
    "affect you?",
    "The story begins with a scene where two friends are discussing their career paths.",
    "I'm not sure how to apply this answer? Please provide your own story.",
    "How are you feeling today? Have you had any setbacks? What would you like to share?",
    "She had just finished dinner and was watching a movie when the phone rang with bad news.",
]
GOOD_SCENARIOS = [
    SCENARIO,
    "My boyfriend broke up with me after four years and I can't stop crying at work.",
    "We've been together for a long time and last week he decided to call it quits.",
    "For three months I have had racing thoughts every night about my parents' health.",
]


@pytest.mark.parametrize("text", SMOLLM2_SCENARIOS)
def test_malformed_scenarios_are_caught(text):
    assert malformed_scenario(text)


@pytest.mark.parametrize("text", GOOD_SCENARIOS)
def test_first_person_accounts_pass(text):
    assert malformed_scenario(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "The story ends here.",
        "I am an AI assistant designed to support creative writing endeavors.",
        "I'd love to hear about your daily routine – what brings you today?",
        "Acknowledging the complexity of human relationships and emotions.",
        "I am here today because I've been through a tough time.",
    ],
)
def test_profiles_without_a_person_are_caught(text):
    assert malformed_profile(text)


@pytest.mark.parametrize(
    "text",
    [
        PROFILE,
        "Priya, 20, female pharmacology student in Leicester who loves baking.",
        "A 35-year-old nurse from Dublin who runs marathons and worries about money.",
        "Retired teacher in her sixties who lives alone with two cats.",
    ],
)
def test_profiles_with_a_person_pass(text):
    assert malformed_profile(text) is None


def test_dialogue_without_scenario_or_profile_is_not_malformed():
    assert rules(dialogue(6, scenario=None, profile=None)).reasons == []
    v = rules(dialogue(6, scenario=SMOLLM2_SCENARIOS[0], profile="The story ends here."))
    assert v.reasons == ["malformed_scenario", "malformed_profile"]
    assert "story" in v.details["malformed_scenario"]


# -- settings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"dup_threshold": 1.5}, "--dup-threshold: Input should be less than or equal to 1"),
        ({"dup_threshold": 0.0}, "--dup-threshold: Input should be greater than 0"),
        ({"scenario_threshold": 2.0}, "--scenario-threshold"),
        ({"role_threshold": 1.0}, "--role-threshold"),
        ({"min_turns": 0}, "--min-turns"),
        ({"disable": ["bogus"]}, "unknown filter(s) in disable: bogus"),
        ({"min_turns": 50, "max_turns": 10}, "min_turns (50) is above max_turns (10)"),
    ],
)
def test_out_of_range_settings_are_one_line_errors(flags, message):
    with pytest.raises(ConfigError) as err:
        build_config(None, flags)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_toml_section_and_flags(tmp_path):
    toml = tmp_path / "clean.toml"
    toml.write_text('[clean]\nmin_turns = 6\ndisable = ["near_duplicate"]\ndup_threshold = 0.9\n')
    config = build_config(toml, {"dup_threshold": 0.5, "max_turns": None})
    assert (config.min_turns, config.dup_threshold, config.disable) == (6, 0.5, ["near_duplicate"])
    toml.write_text("[clean]\nmin_turn = 6\n")
    with pytest.raises(ConfigError, match=r"clean.toml: \[clean\] min_turn: Extra inputs"):
        build_config(toml, {})
    toml.write_text("[clean]\nscenario_threshold = 3\n")
    with pytest.raises(ConfigError, match="scenario_threshold: Input should be less"):
        build_config(toml, {})


# -- model filters with stand-ins ------------------------------------------------------------


class SlidingRoles:
    """A role detector stand-in: consoling seeker turns score high."""

    threshold = 0.5

    def scores(self, items):
        return [0.9 if "sorry" in d.turns[i].text.lower() else 0.1 for d, i in items]


def test_role_inconsistency_uses_the_detector_scores():
    sliding = dialogue(6, extra=[("seeker", "I'm so sorry you're going through this, friend.")])
    config = CleanConfig(
        disable=["off_scenario", "near_duplicate", "unsafe_supporter"], role_min_turns=1
    )
    checks = ModelChecks(config, role_detector=SlidingRoles())
    verdicts = [check_rules(d, config) for d in (sliding, dialogue(8, id="ok"))]
    checks.run(verdicts)
    assert verdicts[0].reasons == ["role_inconsistency"]
    assert "turn 6 (0.90)" in verdicts[0].details["role_inconsistency"]
    assert verdicts[1].reasons == []
    default = CleanConfig(disable=config.disable)  # one slide is not enough by default
    verdicts = [check_rules(sliding, default)]
    ModelChecks(default, role_detector=SlidingRoles()).run(verdicts)
    assert default.role_min_turns == 2 and verdicts[0].reasons == []
    twice = dialogue(
        6,
        extra=[
            ("seeker", "So sorry, friend."),
            ("supporter", "Thanks."),
            ("seeker", "I'm sorry you feel that way too."),
        ],
    )
    verdicts = [check_rules(twice, default)]
    ModelChecks(default, role_detector=SlidingRoles()).run(verdicts)
    assert verdicts[0].reasons == ["role_inconsistency"]


def test_unsafe_supporter_turns_are_rejected():
    config = CleanConfig(disable=["role_inconsistency", "off_scenario", "near_duplicate"])
    risky = dialogue(
        4,
        extra=[
            ("seeker", "I'm going to kill myself tonight."),
            ("supporter", "Everyone feels that way sometimes, just cheer up!"),
        ],
    )
    method = dialogue(
        4,
        extra=[
            ("seeker", "How many of my sleeping pills would it take?"),
            ("supporter", "About thirty pills of that kind would be a lethal dose."),
        ],
    )
    safe = dialogue(
        4,
        extra=[
            ("seeker", "I'm going to kill myself tonight."),
            ("supporter", "I'm really glad you told me. Are you safe right now? Please call 988."),
        ],
    )
    verdicts = [check_rules(d, config) for d in (risky, method, safe, dialogue(8))]
    ModelChecks(config, risk_detector=RiskDetector(semantic=False)).run(verdicts)
    assert [v.reasons for v in verdicts] == [["unsafe_supporter"], ["unsafe_supporter"], [], []]
    assert "dismisses the risk" in verdicts[0].details["unsafe_supporter"]


def test_missing_role_model_folder_is_a_clear_error(tmp_path):
    config = CleanConfig()
    with pytest.raises(ConfigError, match=r"--role-model .*nope: no such folder"):
        ModelChecks(config, role_model=tmp_path / "nope").load()


# -- the whole pass --------------------------------------------------------------------------


VOCAB = (
    "work sleep mother exam rent boss friend money school tired alone angry worried sister "
    "house car doctor pain phone night morning week month year job partner kids dog city move "
    "loan debt bill test grade coach team game lunch dinner class teacher office shift"
).split()


def random_dialogue(rng: random.Random, id: str, n: int = 8) -> Dialogue:
    turns = []
    for i in range(n):
        text = " ".join(rng.choice(VOCAB) for _ in range(rng.randint(8, 14))).capitalize() + "."
        role = "seeker" if i % 2 == 0 else "supporter"
        turns.append(
            Turn(role=role, text=text, strategy="Question" if role == "supporter" else None)
        )
    return Dialogue(
        id=id, problem_type="Job Crisis", scenario=SCENARIO, profile=PROFILE, turns=turns
    )


def test_no_dialogue_is_lost_on_a_large_mixed_file(tmp_path):
    rng = random.Random(7)
    dialogues: list[Dialogue] = []
    for k in range(800):
        d = random_dialogue(rng, f"d{k:05d}", rng.randint(6, 12))
        kind = k % 8
        if kind == 1:
            d = d.model_copy(update={"turns": d.turns[:2]})
        elif kind == 2:
            d = d.model_copy(update={"turns": dialogue(0, extra=GOODBYES).turns + d.turns})
            d = d.model_copy(update={"turns": d.turns[5:] + d.turns[:5]})  # goodbyes at the end
        elif kind == 3:
            d = random_dialogue(rng, d.id, 50)
        elif kind == 4:
            d = d.model_copy(update={"scenario": SMOLLM2_SCENARIOS[k % 6], "profile": "Tell me."})
        elif kind == 5:  # a planted near-duplicate of a plain one (one word changed)
            before = dialogues[-5]
            last = before.turns[-1]
            text = last.text.rsplit(" ", 1)[0] + " indeed."  # one word changed
            turns = [*before.turns[:-1], last.model_copy(update={"text": text})]
            d = before.model_copy(update={"id": d.id, "turns": turns})
        elif kind == 6:
            d = d.model_copy(
                update={"turns": [*d.turns, Turn(role="seeker", text="I'm so sorry for you.")]}
            )
        dialogues.append(d)
    source = tmp_path / "mixed.jsonl"
    write_dialogues(source, dialogues)
    config = CleanConfig(disable=["off_scenario"], max_turns=40, batch_size=64, role_min_turns=1)
    checks = ModelChecks(
        config, role_detector=SlidingRoles(), risk_detector=RiskDetector(semantic=False)
    )
    out, rejected = tmp_path / "out.jsonl", tmp_path / "rejected.jsonl"
    report = clean_file(source, out, rejected, config, checks=checks)
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    rejected_rows = [json.loads(line) for line in rejected.read_text().splitlines()]
    ids = [r["id"] for r in kept] + [r["id"] for r in rejected_rows]
    assert sorted(ids) == sorted(d.id for d in dialogues)  # each one exactly once
    assert (report.input, report.kept, report.rejected) == (800, len(kept), len(rejected_rows))
    assert dict(report.rejected_by) == {
        "too_short": 100,
        "malformed_scenario": 100,
        "malformed_profile": 100,
        "near_duplicate": 100,
        "role_inconsistency": 100,
    }
    assert report.repaired_by == {"redundant_greetings": 100, "too_long": 100}
    by_id = {r["id"]: r for r in kept}
    assert by_id["d00003"]["meta"]["repairs"] == [
        {"code": "too_long", "detail": "cut 50 utterances, more than 40"}
    ]
    assert len(by_id["d00003"]["turns"]) == 40
    duplicate = next(r for r in rejected_rows if r["id"] == "d00005")
    assert duplicate["reasons"] == ["near_duplicate"]
    assert "near-duplicate of d00000" in duplicate["details"]["near_duplicate"]
    assert all(set(r["details"]) == set(r["reasons"]) for r in rejected_rows)
    assert not list(tmp_path.glob("*.tmp"))


def test_bad_line_is_a_file_line_error_and_leaves_no_output(tmp_path):
    source = tmp_path / "bad.jsonl"
    good = json.dumps(dialogue(6).to_record())
    source.write_text(f"{good}\n{{not json\n")
    out = tmp_path / "out.jsonl"
    with pytest.raises(DataError, match=r"bad.jsonl:2: not valid JSON"):
        clean_file(source, out, tmp_path / "rej.jsonl", CleanConfig(disable=ONLY_RULES))
    assert not out.exists() and not list(tmp_path.glob("*.tmp"))
