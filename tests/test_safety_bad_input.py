"""Bad input to the safety API and commands: an empty message, 100,000 characters, text that is
not English, a malformed crisis-resources file or head file, an unknown locale. Each gives a
clear result or a one-line error, never a crash."""

import json
import subprocess
import sys

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from sweetiechat.agents import SupporterAgent
from sweetiechat.errors import ConfigError
from sweetiechat.quality.head import load_head
from sweetiechat.quality.resources import load_resources
from sweetiechat.quality.risk import RiskDetector
from sweetiechat.safety import SafetyGuard, check_reply
from sweetiechat.types import Dialogue, Turn

NON_ENGLISH = [
    "Je ne veux plus vivre, je suis fatiguée de tout",
    "Ya no quiero vivir, estoy cansada de todo",
    "Ich will nicht mehr leben und bin so müde",
    "我不想活了",
    "Я не хочу жить",
]


@pytest.fixture(scope="module")
def patterns():
    return RiskDetector(semantic=False)


def test_empty_messages_are_no_risk_with_a_reason(patterns):
    for text in ("", "   ", "\n\t"):
        a = patterns.assess(text)
        assert (a.risk, a.layer, a.note) == (False, "empty", "empty message")
    # empty context turns and an empty message among others in a batch
    out = patterns.assess_many(["", "I want to die.", ""], [[""], ["", "  "], ["I want to die."]])
    assert [(a.risk, a.layer) for a in out] == [
        (False, "empty"),
        (True, "pattern"),
        (False, "empty"),
    ]


def test_a_100000_character_message_is_read_without_a_crash(patterns):
    assert not patterns.assess("x" * 100_000).risk
    assert not patterns.assess("I had a long day at work. " * 4_000).risk
    late = patterns.assess("I had a long day at work. " * 4_000 + "Tonight I will kill myself.")
    assert late.risk and late.layer == "pattern"


def test_a_long_unpunctuated_message_repeating_used_to_is_read(patterns):
    """The recovery reading ("I used to ... but now I'm ...") looks at most 300 characters
    past each "used to": without the bound, 100,000 characters of "i used to run" took 67 s
    (each "used to" scanned to the end of the message); now well under a second."""
    assert not patterns.assess("i used to run " * 7_200).risk
    tail = patterns.assess("i used to run " * 7_200 + "and tonight I will kill myself")
    assert tail.risk and tail.layer == "pattern"
    # within a sentence the recovery reading still sets a past act aside
    assert not patterns.assess("I used to cut myself at school, but now I'm doing well.").risk


@pytest.mark.slow
def test_a_100000_character_message_through_the_semantic_layer_says_it_was_cut():
    full = RiskDetector(semantic=True)
    a = full.assess("I had a long day at work and I am tired. " * 2_500)
    assert len("I had a long day at work and I am tired. " * 2_500) > 100_000
    assert not a.risk and "first 20000 characters" in (a.note or "")
    assert not full.assess("x" * 100_000).risk  # one endless token: nothing to embed


@pytest.mark.parametrize("text", NON_ENGLISH)
def test_non_english_text_is_flagged_conservatively_with_an_english_only_note(patterns, text):
    a = patterns.assess(text)
    assert (a.risk, a.layer) == (True, "language"), a
    assert "English only" in (a.note or "")
    assert a.to_json()["note"] == a.note  # the CLI's JSON carries the note


def test_non_english_message_gets_a_safety_check_in_reply():
    guard = SafetyGuard(detector=RiskDetector(semantic=False), max_tries=1)
    d = Dialogue(
        id="d",
        problem_type="Ongoing Depression",
        turns=[Turn(role="seeker", text="Ya no quiero vivir, estoy cansada de todo")],
    )
    agent = SupporterAgent(FakeListChatModel(responses=["Have you tried yoga?"]), safety=guard)
    turn = agent.respond(d, "Question")
    # an ordinary reply ignores the flagged message: the vetted template asks about safety
    assert turn.text != "Have you tried yoga?"
    assert "988" in turn.text and check_reply(turn.text, patterns_risk()).ok


def patterns_risk():
    return RiskDetector(semantic=False).assess("Ya no quiero vivir, estoy cansada de todo")


def test_unknown_locale_and_malformed_resources_are_one_line_config_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"no crisis resources for locale 'xx-YY' \(known: en-"):
        SafetyGuard(detector=RiskDetector(semantic=False), locale="xx-YY")
    cases = {
        "empty.json": ("", r"empty.json:1: not valid JSON"),
        "list.json": ("[]", r"list.json: field"),
        "nolocales.json": ('{"default_locale": "en-US", "locales": {}}', r"field locales"),
        "badlocale.json": (
            json.dumps(
                {
                    "default_locale": "zz",
                    "locales": {
                        "en-US": {
                            "country": "US",
                            "crisis_line": {"name": "988", "contact": "call 988"},
                            "emergency": "911",
                        }
                    },
                }
            ),
            r"default_locale 'zz' is not in locales",
        ),
        "latin1.json": (b"\xff\xfe{not utf-8", r"latin1.json: cannot read"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        with pytest.raises(ConfigError, match=message) as err:
            load_resources(path)
        assert "\n" not in str(err.value)
        with pytest.raises(ConfigError):
            SafetyGuard(detector=RiskDetector(semantic=False), resources_file=path)


def test_a_malformed_head_file_is_a_config_error_naming_it(tmp_path):
    bad = tmp_path / "head.json"
    bad.write_text('{"weights": [[1, 2]], "bias": [0]')
    with pytest.raises(ConfigError, match=r"head.json: line 1: not valid JSON"):
        load_head(bad)
    bad.write_text('{"weights": [[1, 2]], "bias": [0]}')
    shape = r"head.json: not a risk head file \(risk head: weights \(1, 2\)"
    with pytest.raises(ConfigError, match=shape):
        load_head(bad)
    with pytest.raises(ConfigError, match="no such risk head file"):
        load_head(tmp_path / "absent.json")


@pytest.mark.slow
def test_cli_bad_input(tmp_path):
    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "sweetiechat", *args],
            capture_output=True,
            text=True,
            timeout=600,
        )

    r = run("safety", "check", "", "--json", "--no-semantic")
    assert r.returncode == 0 and json.loads(r.stdout)["layer"] == "empty"
    long = tmp_path / "long.txt"
    long.write_text("x" * 100_000 + "\n" + "Я не хочу жить\n")
    r = run("safety", "check", "--file", str(long), "--no-semantic")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert [(x["line"], x["risk"], x["layer"]) for x in rows] == [
        (1, False, "none"),
        (2, True, "language"),
    ]
    r = run("generate", "-n", "1", "-o", str(tmp_path / "o.jsonl"), "--crisis-locale", "xx-YY")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "no crisis resources for locale 'xx-YY'" in r.stderr


@pytest.mark.parametrize("name", ["SWEETIECHAT_SAFETY_SEMANTIC", "SWEETIECHAT_SAFETY_FINETUNED"])
def test_a_misspelt_safety_switch_is_a_clear_error(monkeypatch, name):
    import sweetiechat.quality.risk as risk

    monkeypatch.setattr(risk, "_DEFAULT", None)
    monkeypatch.setenv(name, "onn")
    with pytest.raises(ConfigError, match=f"{name}='onn': set it to on or off"):
        risk.default_detector()
    monkeypatch.setenv("SWEETIECHAT_SAFETY_SEMANTIC", "off")
    monkeypatch.setenv("SWEETIECHAT_SAFETY_FINETUNED", "no")
    detector = risk.default_detector()
    assert detector.semantic is None and detector.finetuned is None
    monkeypatch.setattr(risk, "_DEFAULT", None)


@pytest.mark.parametrize("value", ["high", "1.5", "0", "nan", "-0.2"])
def test_a_bad_safety_threshold_is_a_clear_error(monkeypatch, value):
    import sweetiechat.quality.risk as risk

    monkeypatch.setattr(risk, "_DEFAULT", None)
    monkeypatch.setenv("SWEETIECHAT_SAFETY_SEMANTIC", "off")
    monkeypatch.setenv("SWEETIECHAT_SAFETY_THRESHOLD", value)
    with pytest.raises(ConfigError, match=r"SWEETIECHAT_SAFETY_THRESHOLD=.*between 0 and 1"):
        risk.default_detector()
    monkeypatch.setenv("SWEETIECHAT_SAFETY_THRESHOLD", "0.6")
    # a valid threshold without the fine-tuned layer (patterns only here) is refused too
    with pytest.raises(ConfigError, match="the fine-tuned layer is off"):
        risk.default_detector()
    monkeypatch.setattr(risk, "_DEFAULT", None)
