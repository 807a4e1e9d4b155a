import json

import pytest
from quality_fixtures import RESPONSES, SEEKER, data_dir, frozen_recognizer
from tiny_models import bert_dir

from helpers import one_line_error, run_cli
from sweetiechat.errors import ConfigError, UserError
from sweetiechat.quality.adherence import adherence
from sweetiechat.quality.recognizer import StrategyRecognizer, response_context
from sweetiechat.quality.recognizer_train import recognition_examples, train_recognizer
from sweetiechat.taxonomy import Strategy
from sweetiechat.types import Dialogue, Turn


def reply(text: str, strategy: Strategy | None = None, seeker: str = SEEKER) -> Dialogue:
    return Dialogue(
        id="x",
        problem_type="Job Crisis",
        turns=[
            Turn(role="seeker", text=seeker),
            Turn(role="supporter", text=text, strategy=strategy),
        ],
    )


def test_the_response_is_read_without_its_label():
    d = reply("What happened next?", Strategy.QUESTION)
    ctx = response_context(d, 1)
    assert ctx.turns[-1].text == "What happened next?" and ctx.turns[-1].strategy is None
    (example,) = recognition_examples([d])
    assert example.gold is Strategy.QUESTION and example.context.turns[-1].strategy is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("What was the hardest moment of the day for you?", Strategy.QUESTION),
        ("Perhaps you could try writing down your goals for tomorrow.", Strategy.SUGGESTIONS),
        ("When my father died I felt the same emptiness.", Strategy.SELF_DISCLOSURE),
    ],
)
def test_frozen_recognizer_reads_unseen_responses(text, expected):
    rec = StrategyRecognizer.load(frozen_recognizer())
    ((got, probs),) = rec.predict([(reply(text), 1)])
    assert got is expected
    assert set(probs) == set(Strategy) and abs(sum(probs.values()) - 1) < 1e-4


def test_recognizer_folder_holds_its_scores_and_a_small_head():
    folder = frozen_recognizer()
    info = json.loads((folder / "recognizer.json").read_text())
    assert info["kind"] == "frozen" and info["metrics"]["test"]["n"] == 16
    assert info["metrics"]["test"]["accuracy"] > 0.8  # seen sentences
    assert (folder / "head.npz").stat().st_size < 50_000


def test_adherence_per_strategy():
    rec = StrategyRecognizer.load(frozen_recognizer())
    good = [reply(RESPONSES[s][0], s) for s in (Strategy.QUESTION, Strategy.SUGGESTIONS)]
    wrong = reply(RESPONSES[Strategy.QUESTION][1], Strategy.AFFIRMATION)  # a question
    unlabelled = reply("Hmm.", None)
    report = adherence([*good, wrong, unlabelled], rec)
    assert report.turns == 3 and report.dialogues == 4
    assert report.overall == pytest.approx(2 / 3)
    assert report.per_strategy["Question"] == 1.0
    assert report.per_strategy["Affirmation and Reassurance"] == 0.0
    assert report.per_strategy["Information"] is None
    assert report.confusion["Affirmation and Reassurance"] == {"Question": 1}
    assert report.to_dict()["counts"]["Question"] == 1
    assert adherence([], rec).overall is None


def test_missing_or_bad_recognizer_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match=r"no such recognizer folder.*train-recognizer"):
        StrategyRecognizer.load(tmp_path / "nope")
    with pytest.raises(ConfigError, match="not a strategy recognizer"):
        StrategyRecognizer.load(tmp_path)
    (tmp_path / "recognizer.json").write_text('{"kind": "magic", "base_model": "x"}')
    with pytest.raises(ConfigError, match="field 'kind'"):
        StrategyRecognizer.load(tmp_path)


def test_predicting_a_seeker_turn_is_refused():
    rec = StrategyRecognizer.load(frozen_recognizer())
    with pytest.raises(UserError, match="turn 0 is not a supporter turn"):
        rec.predict([(reply("Hi"), 0)])
    with pytest.raises(UserError, match="turn 5 does not exist"):
        rec.predict([(reply("Hi"), 5)])


def test_finetuned_recognizer_reuses_the_classifier_trainer(tmp_path):
    out = tmp_path / "ft"
    metrics = train_recognizer(
        data_dir(), out, kind="finetuned", base_model=str(bert_dir()), max_steps=2,
        batch_size=4, max_length=48, progress=False,
    )  # fmt: skip
    assert metrics["train"]["steps"] == 2 and metrics["test"]["n"] == 16
    assert (out / "counselor.json").is_file()  # also a classifier-counselor folder
    rec = StrategyRecognizer.load(out)
    assert rec.info.kind == "finetuned" and rec.info.input["strategies"] is False
    ((got, probs),) = rec.predict([(reply("What now?"), 1)])
    assert got in Strategy and abs(sum(probs.values()) - 1) < 1e-4
    with pytest.raises(UserError, match="already holds a recognizer"):
        train_recognizer(data_dir(), out, kind="frozen", progress=False)


def test_cli_train_recognizer_and_adherence(tmp_path, monkeypatch, capsys):
    def cli(*args):
        return run_cli(monkeypatch, capsys, *args)

    out = tmp_path / "rec"
    code, stdout, err = cli(
        "quality", "train-recognizer", "--data", str(data_dir()), "--out", str(out)
    )
    assert code == 0, err
    assert "macro-F1" in stdout and (out / "head.npz").is_file()
    dialogues = tmp_path / "d.jsonl"
    dialogues.write_text(
        reply(RESPONSES[Strategy.QUESTION][0], Strategy.QUESTION).model_dump_json()
    )
    code, stdout, err = cli(
        "quality", "adherence", str(dialogues), "--recognizer", str(out), "--json"
    )
    assert code == 0, err
    assert json.loads(stdout)[str(dialogues)]["overall"] == 1.0
    code, _, err = cli("quality", "adherence", str(dialogues), "--recognizer", str(tmp_path / "no"))
    one_line_error(code, err, "no such recognizer folder")
    code, stdout, err = cli("quality", "adherence", str(dialogues), "--json")  # the shipped one
    assert code == 0, err
    assert json.loads(stdout)[str(dialogues)]["recognizer"] == "recognizer:recognizer"
    code, _, err = cli(
        "quality", "train-recognizer", "--data", str(data_dir()), "--out", str(out / "x"),
        "--kind", "magic",
    )  # fmt: skip
    one_line_error(code, err, "choose frozen or finetuned")


def test_analyze_reports_adherence_with_a_recognizer(tmp_path, monkeypatch, capsys):
    rec = str(frozen_recognizer())
    path = tmp_path / "d.jsonl"
    good = reply(RESPONSES[Strategy.QUESTION][0], Strategy.QUESTION).model_copy(update={"id": "a"})
    bad = reply(RESPONSES[Strategy.QUESTION][1], Strategy.AFFIRMATION).model_copy(
        update={"id": "b"}
    )
    path.write_text(good.model_dump_json() + "\n" + bad.model_dump_json() + "\n")
    out = tmp_path / "report"
    args = ["analyze", str(path), "--out", str(out), "--tokenizer", "word"]
    code, stdout, err = run_cli(monkeypatch, capsys, *args, "--recognizer", rec)
    assert code == 0, err
    assert "Adherence" in stdout
    result = json.loads((out / "adherence.json").read_text())[str(path)]
    assert result["overall"] == 0.5 and result["per_strategy"]["Question"] == 1.0
    code, _, err = run_cli(monkeypatch, capsys, *args, "--recognizer", str(tmp_path / "no"))
    one_line_error(code, err, "no such recognizer folder")


def test_the_shipped_recognizer_reads_clear_cases():
    rec = StrategyRecognizer.load()
    assert rec.info.kind == "frozen" and rec.info.metrics["test"]["n"] == 2895
    texts = ["How long have you been feeling like this?", "Have you tried making a to-do list?"]
    got = [s for s, _ in rec.predict([(reply(t), 1) for t in texts])]
    assert got == [Strategy.QUESTION, Strategy.SUGGESTIONS]
