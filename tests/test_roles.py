import json

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from quality_fixtures import data_dir

from helpers import one_line_error, run_cli
from sweetiechat._async import run_sync
from sweetiechat.errors import ConfigError, UserError
from sweetiechat.io import DataError
from sweetiechat.quality.roles import RoleDetector
from sweetiechat.quality.roles_train import (
    SLIDES_FILE,
    evaluate_role_detector,
    load_slides,
    train_role_detector,
)
from sweetiechat.types import Dialogue, Turn

SLIDES = [
    "I'm so sorry you're going through this. Have you tried talking to a counselor about "
    "how you feel?",
    "It's completely normal to feel this way. Give yourself time to heal, you are not alone.",
    "How are you feeling about all of this? What has been the hardest part for you?",
]
KEEPS = [
    "I lost my job last week and I can't stop crying.",
    "My wife left me and I feel like it was all my fault.",
]


def seeker_turns(texts: list[str]) -> tuple[Dialogue, list[tuple[Dialogue, int]]]:
    turns = [Turn(role="supporter", text="Hi, how are you feeling today?")]
    turns += [Turn(role="seeker", text=t) for t in texts]
    d = Dialogue(id="r", problem_type="Job Crisis", turns=turns)
    return d, [(d, i) for i in range(1, len(turns))]


def test_shipped_detector_flags_seekers_who_console_and_keeps_those_who_confide():
    detector = RoleDetector.load()
    assert 0 < detector.threshold < 1
    _, items = seeker_turns(SLIDES + KEEPS)
    flags = detector.flags(items)
    assert flags == [True] * len(SLIDES) + [False] * len(KEEPS)
    scores = detector.scores(items)
    assert min(scores[: len(SLIDES)]) > max(scores[len(SLIDES) :])


def test_slide_set_has_forty_slides_and_the_shipped_detector_beats_chance_on_it():
    items = load_slides()
    assert sum(flag for _, _, flag in items) >= 40
    assert all(d.turns[i].role == "seeker" for d, i, _ in items)
    m = evaluate_role_detector(RoleDetector.load(), items, seeker_only=True)
    assert m["precision"] >= 0.8 and m["recall"] >= 0.3


def test_thresholds_out_of_range_and_missing_folders_are_clear_errors(tmp_path):
    for bad in (0.0, 1.0, 1.5, -0.1):
        with pytest.raises(ConfigError, match="between 0 and 1"):
            RoleDetector.load(threshold=bad)
    with pytest.raises(ConfigError, match="no such role-detector folder"):
        RoleDetector.load(tmp_path / "missing")
    with pytest.raises(ConfigError, match="not a role detector"):
        RoleDetector.load(tmp_path)
    (tmp_path / "role.json").write_text(json.dumps({"threshold": 3}))
    with pytest.raises(ConfigError, match="field 'threshold'"):
        RoleDetector.load(tmp_path)


def test_supporter_turns_are_not_role_checked():
    d, _ = seeker_turns(KEEPS)
    with pytest.raises(UserError, match="turn 0 is not a seeker turn"):
        RoleDetector.load().scores([(d, 0)])


def test_llm_check_confirms_or_overrules_flagged_turns_only():
    detector = RoleDetector.load()
    _, items = seeker_turns([SLIDES[0], KEEPS[0], SLIDES[1]])
    llm = FakeListChatModel(responses=["Seeker.", "supporter"])  # asked twice, in order
    verdicts = run_sync(detector.acheck(items, llm))
    assert [v.flagged for v in verdicts] == [False, False, True]
    assert [v.llm for v in verdicts] == ["seeker", None, "supporter"]
    plain = run_sync(detector.acheck(items))
    assert [v.flagged for v in plain] == [True, False, True]


def test_bad_slide_file_names_the_line(tmp_path):
    path = tmp_path / "s.jsonl"
    good = SLIDES_FILE.read_text().splitlines()[0]
    path.write_text(good + "\n" + '{"context": [], "text": "hi"}\n')
    with pytest.raises(DataError, match=r"s\.jsonl:2: bad slide-set line"):
        load_slides(path)


def test_train_a_tiny_detector_and_load_it(tmp_path):
    out = tmp_path / "role"
    metrics = train_role_detector(data_dir(), out, features="context", progress=False)
    assert set(metrics) == {"train", "valid", "test", "slides"}
    detector = RoleDetector.load(out)
    assert detector.info.features == "context" and 0 < detector.threshold < 1
    assert (out / "role_head.npz").stat().st_size < 20_000
    _, items = seeker_turns(KEEPS)
    assert len(detector.scores(items)) == 2
    with pytest.raises(UserError, match="already holds a role detector"):
        train_role_detector(data_dir(), out, progress=False)


def test_cli_roles_and_train_role_errors(tmp_path, monkeypatch, capsys):
    d, _ = seeker_turns(SLIDES[:1] + KEEPS)
    path = tmp_path / "d.jsonl"
    path.write_text(d.model_dump_json() + "\n")
    code, out, err = run_cli(monkeypatch, capsys, "quality", "roles", str(path), "--json")
    assert code == 0, err
    result = json.loads(out)[str(path)]
    assert result["seeker_turns"] == 3 and result["flagged_turns"] == 1
    assert result["flagged_dialogues"] == 1
    code, _, err = run_cli(monkeypatch, capsys, "quality", "roles", str(path), "--threshold", "2")
    one_line_error(code, err, "between 0 and 1")
    code, _, err = run_cli(
        monkeypatch, capsys, "quality", "train-role", "--data", str(data_dir()),
        "--out", str(tmp_path / "r"), "--features", "words",
    )  # fmt: skip
    one_line_error(code, err, "choose utterance or context")
