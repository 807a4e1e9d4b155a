import json
import threading

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from quality_fixtures import RESPONSES, frozen_recognizer

from helpers import one_line_error, run_cli
from sweetiechat._async import run_sync
from sweetiechat.agents.seeker import SeekerAgent
from sweetiechat.agents.supporter import SupporterAgent
from sweetiechat.config import GenerationConfig
from sweetiechat.errors import ConfigError
from sweetiechat.generate import generate_dialogues
from sweetiechat.io import read_dialogues
from sweetiechat.notes import collecting
from sweetiechat.quality.adherence import adherence
from sweetiechat.quality.enforce import RoleEnforcer, StrategyEnforcer
from sweetiechat.quality.recognizer import StrategyRecognizer
from sweetiechat.quality.roles import RoleDetector
from sweetiechat.taxonomy import Strategy
from sweetiechat.testing import OpenAITestServer, RolePlayScript
from sweetiechat.testing.script import _SUPPORT
from sweetiechat.types import Dialogue, Turn

SLIDE = (
    "I'm so sorry you're going through this. Have you tried talking to a counselor about "
    "how you feel?"
)
KEEP = "I lost my job last week and I can't stop crying."
OPENING = Dialogue(
    id="e", problem_type="Job Crisis", turns=[Turn(role="seeker", text="I lost my job.")]
)


def test_strategy_enforcer_regenerates_until_the_recognizer_agrees():
    wrong, right = RESPONSES[Strategy.SUGGESTIONS][1], RESPONSES[Strategy.QUESTION][1]
    inner = SupporterAgent(FakeListChatModel(responses=[wrong, right]))
    enforcer = StrategyEnforcer(inner, StrategyRecognizer.load(frozen_recognizer()), tries=3)
    with collecting() as notes:
        turn = run_sync(enforcer.arespond(OPENING, "Question"))
    assert turn.text == right and turn.strategy is Strategy.QUESTION
    (event,) = notes["enforcement"]
    assert event["check"] == "strategy" and event["assigned"] == "Question"
    assert event["attempts"] == 2 and event["accepted"] and event["kept"] == 1
    assert event["recognized"] == ["Providing Suggestions", "Question"]
    assert enforcer.name == inner.name


def test_strategy_enforcer_keeps_the_best_attempt_when_all_fail():
    texts = [RESPONSES[Strategy.SUGGESTIONS][1], RESPONSES[Strategy.OTHERS][1]]
    inner = SupporterAgent(FakeListChatModel(responses=texts))
    enforcer = StrategyEnforcer(inner, StrategyRecognizer.load(frozen_recognizer()), tries=2)
    with collecting() as notes:
        turn = run_sync(enforcer.arespond(OPENING, "Self-disclosure"))
    (event,) = notes["enforcement"]
    assert event["attempts"] == 2 and not event["accepted"]
    assert turn.text == texts[event["kept"]]
    assert turn.strategy is Strategy.SELF_DISCLOSURE  # the assignment is kept, as recorded


def test_role_enforcer_regenerates_a_seeker_who_consoles():
    inner = SeekerAgent(FakeListChatModel(responses=[SLIDE, KEEP]))
    enforcer = RoleEnforcer(inner, RoleDetector.load(), tries=3)
    history = Dialogue(
        id="e", problem_type="Job Crisis",
        turns=[*OPENING.turns, Turn(role="supporter", text="What happened?", strategy="Question")],
    )  # fmt: skip
    with collecting() as notes:
        reply = run_sync(enforcer.arespond(history))
    assert reply.text == KEEP
    (event,) = notes["enforcement"]
    assert event["check"] == "role" and event["attempts"] == 2 and event["accepted"]
    assert event["scores"][0] >= event["threshold"] > event["scores"][1]


def test_tries_out_of_range_is_refused():
    with pytest.raises(ConfigError, match="between 1 and 20"):
        RoleEnforcer(SeekerAgent(FakeListChatModel(responses=["x"])), RoleDetector.load(), tries=0)


class FirstTryWrong(RolePlayScript):
    """The test server's replies, except that the first answer to each supporter prompt uses
    another strategy's line, and the first to each seeker prompt consoles the supporter."""

    close_rate = 0.0

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.lock = threading.Lock()

    def __call__(self, request) -> str:
        key = json.dumps(request.messages, sort_keys=True)
        with self.lock:
            first = key not in self.seen
            self.seen.add(key)
        text = super().__call__(request)
        if first and request.role == "supporter":
            order = list(Strategy)
            now = next(s for s in order if _SUPPORT[s] == text)
            return _SUPPORT[order[(order.index(now) + 1) % len(order)]]
        if first and request.role == "seeker":
            return SLIDE
        return text


def server_config(url: str, **kw) -> GenerationConfig:
    base = {
        "defaults": {"backend": "openai", "base_url": url, "model": "test-model",
                     "api_key_env": "", "timeout": 2, "attempts": 3, "wait_max": 0.05},
        "counselor": {"kind": "prompted"},
        "max_seeker_turns": 3,
        "min_seeker_turns": 3,
    }  # fmt: skip
    base.update(kw)
    return GenerationConfig.model_validate(base)


def role_flags(dialogues: list[Dialogue]) -> int:
    items = [(d, i) for d in dialogues for i, t in enumerate(d.turns) if t.role == "seeker"]
    return sum(RoleDetector.load().flags(items))


def test_enforcement_end_to_end_against_the_test_server(tmp_path):
    rec_dir = frozen_recognizer()
    recognizer = StrategyRecognizer.load(rec_dir)
    enforcement = {"strategy": True, "role": True, "tries": 3, "recognizer": str(rec_dir)}
    with OpenAITestServer(script=FirstTryWrong()) as server:
        plain = generate_dialogues(2, tmp_path / "plain.jsonl", server_config(server.base_url))
    with OpenAITestServer(script=FirstTryWrong()) as server:
        cfg = server_config(server.base_url, enforcement=enforcement)
        enforced = generate_dialogues(2, tmp_path / "enforced.jsonl", cfg)
    before = list(read_dialogues(tmp_path / "plain.jsonl"))
    after = list(read_dialogues(tmp_path / "enforced.jsonl"))
    assert adherence(before, recognizer).overall == 0.0
    assert adherence(after, recognizer).overall == 1.0
    assert role_flags(before) > 0 and role_flags(after) == 0
    for d in after:
        events = d.meta.enforcement  # type: ignore[attr-defined]
        checks = [e["check"] for e in events]
        supporter_turns = sum(t.role == "supporter" for t in d.turns)
        assert checks.count("strategy") == supporter_turns
        assert checks.count("role") == sum(t.role == "seeker" for t in d.turns)
        assert all(e["attempts"] == 2 and e["accepted"] for e in events)
    assert enforced.ledger.total.calls > plain.ledger.total.calls
    assert plain.written == enforced.written == 2


def test_cli_enforcement_flags_and_their_errors(tmp_path, monkeypatch, capsys):
    def cli(*args):
        return run_cli(monkeypatch, capsys, *args)

    out = tmp_path / "o.jsonl"
    with OpenAITestServer() as server:
        common = ["generate", "-n", "1", "-o", str(out), "--backend", "openai",
                  "--base-url", server.base_url, "--model", "test-model", "--max-turns", "2",
                  "--min-turns", "2"]  # fmt: skip
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-dummy")
        code, _, err = cli(*common, "--enforce-strategy", "--recognizer", str(tmp_path / "no"))
        one_line_error(code, err, "no such recognizer folder")
        code, _, err = cli(*common, "--enforce-role", "--role-threshold", "1.5")
        one_line_error(code, err, "--role-threshold (enforcement.role_threshold)")
        code, _, err = cli(*common, "--enforce-role", "--enforce-tries", "0")
        one_line_error(code, err, "--enforce-tries (enforcement.tries)")
        assert not out.exists()
        rec = str(frozen_recognizer())
        flags = [
            "--enforce-strategy",
            "--enforce-role",
            "--recognizer",
            rec,
            "--enforce-tries",
            "2",
        ]
        code, _, err = cli(*common, *flags)
        assert code == 0, err
        (d,) = read_dialogues(out)
        checks = {e["check"] for e in d.meta.enforcement}  # type: ignore[attr-defined]
        assert checks == {"strategy", "role"}
        signature = json.loads((tmp_path / "o.jsonl.run" / "run.json").read_text())
        assert signature["data_signature"]["enforcement"]["tries"] == 2
        code, _, err = cli(*common, "--resume", "--enforce-role")
        assert code == 2 and "enforcement" in err


def test_enforcement_is_in_the_data_signature_only_when_on():
    off = GenerationConfig()
    assert "enforcement" not in off.data_signature()
    on = GenerationConfig.model_validate({"enforcement": {"role": True, "tries": 4}})
    assert on.data_signature()["enforcement"]["tries"] == 4


@pytest.mark.slow
def test_enforcement_on_the_embedded_model(tmp_path):
    rec_dir = frozen_recognizer()
    cfg = GenerationConfig.model_validate(
        {
            "defaults": {"backend": "embedded", "max_tokens": 16},
            "roles": {"scenario_writer": {"max_tokens": 64}},  # it must write 20 words
            "max_seeker_turns": 2,
            "min_seeker_turns": 2,
            "enforcement": {"strategy": True, "role": True, "tries": 2,
                            "recognizer": str(rec_dir)},
        }
    )  # fmt: skip
    state = generate_dialogues(1, tmp_path / "e.jsonl", cfg)
    assert state.written == 1, state.failures
    (d,) = read_dialogues(tmp_path / "e.jsonl")
    events = d.meta.enforcement  # type: ignore[attr-defined]
    assert [e["check"] for e in events].count("strategy") == 1
    assert [e["check"] for e in events].count("role") == 2
    assert all(1 <= e["attempts"] <= 2 for e in events)
    assert d.alternates and d.turns[1].strategy is not None


def test_strategy_enforcement_without_a_folder_uses_the_shipped_recognizer():
    from sweetiechat.quality.enforce import with_enforcement
    from sweetiechat.quality.recognizer import DEFAULT_RECOGNIZER_DIR

    config = with_enforcement(GenerationConfig(), strategy=True)
    assert config.enforcement.strategy and config.enforcement.recognizer is None
    assert StrategyRecognizer.load(config.enforcement.recognizer).folder == DEFAULT_RECOGNIZER_DIR
