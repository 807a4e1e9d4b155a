import json

from typer.testing import CliRunner

from sweetiechat.cli import app
from sweetiechat.io import read_dialogues
from sweetiechat.metrics.stats import compute_stats
from sweetiechat.normalize import is_greeting, normalise
from sweetiechat.tokenizers import get_tokenizer

runner = CliRunner()


def test_stats_on_fixture_by_hand(esconv_small):
    s = compute_stats(read_dialogues(esconv_small), get_tokenizer("whitespace"), label="f")
    assert s.dialogues == 3
    assert s.utterances == 28
    assert s.roles["seeker"].utterances == 14
    assert s.roles["supporter"].utterances == 14
    assert s.strategies["Others"] == 2
    assert s.strategies["Question"] == 3
    assert abs(s.avg_utterances_per_dialogue - 28 / 3) < 1e-9
    assert abs(s.strategy_shares["Question"] - 3 / 14) < 1e-9


def test_normalisation_merges_and_drops_greetings(esconv_small):
    d = next(iter(read_dialogues(esconv_small)))
    n = normalise(d, merge_consecutive=True, drop_greetings=True)
    assert n.turns[0].text.startswith("I'm feeling anxious")
    assert n.alternates
    assert is_greeting("Hello good afternoon.") and not is_greeting("I lost my job.")


def test_stats_json_schema(esconv_small):
    result = runner.invoke(app, ["stats", "--json", "--tokenizer", "word", str(esconv_small)])
    assert result.exit_code == 0, result.output
    (obj,) = json.loads(result.stdout)
    for key in (
        "file",
        "dialogues",
        "utterances",
        "avg_utterances_per_dialogue",
        "avg_utterance_tokens",
        "tokenizer",
        "roles",
        "strategies",
    ):
        assert key in obj
    assert obj["tokenizer"] == "word"
    assert set(obj["roles"]) == {"seeker", "supporter"}
    assert set(obj["roles"]["seeker"]) >= {"utterances", "avg_per_dialogue", "avg_tokens"}
    assert len(obj["strategies"]) == 8


def test_stats_on_esconv_matches_reference(esconv_dir):
    files = [str(esconv_dir / f"{s}.json") for s in ("train", "valid", "test")]
    result = runner.invoke(app, ["stats", "--json", "--total", *files])
    assert result.exit_code == 0, result.output
    total = json.loads(result.stdout)[-1]
    assert total["dialogues"] == 1300
    assert total["utterances"] == 38365
    assert total["strategies"]["Question"] == 3801
    assert total["strategies"]["Others"] == 3341
    assert total["strategies"]["Restatement or Paraphrasing"] == 1089
    result = runner.invoke(
        app, ["stats", "--json", "--total", "--merge-consecutive", "--drop-greetings", *files]
    )
    total = json.loads(result.stdout)[-1]
    # The paper reports 29,278 utterances and 22.54 per dialogue after normalisation.
    assert abs(total["utterances"] - 29278) / 29278 < 0.01
    assert abs(total["avg_utterances_per_dialogue"] - 22.54) < 0.2


def test_stats_table_names_tokenizer(esconv_small):
    result = runner.invoke(app, ["stats", "--tokenizer", "word", str(esconv_small)])
    assert result.exit_code == 0
    assert "tokenizer: word" in result.stdout
    assert "Question" in result.stdout


def test_paper_form_counts_raw_dialogues_with_speaker_lines(esconv_small):
    ws = get_tokenizer("whitespace")
    dialogues = list(read_dialogues(esconv_small))
    s = compute_stats(dialogues, ws, merge_consecutive=True, drop_greetings=True)
    # The paper form ignores normalisation: every raw utterance, plus one "usr:"/"sys:" label.
    raw_utts = sum(len(d.turns) for d in dialogues)
    raw_words = sum(len(t.text.split()) for d in dialogues for t in d.turns)
    assert s.paper.utterances == raw_utts == 28
    assert s.paper.tokens == raw_words + raw_utts
    assert s.utterances < raw_utts  # the per-utterance form did merge
    assert s.paper.avg_utterance_tokens == s.paper.tokens / raw_utts


def test_stats_on_esconv_gives_the_papers_tokens_per_utterance(esconv_dir):
    files = [str(esconv_dir / f"{s}.json") for s in ("train", "valid", "test")]
    result = runner.invoke(app, ["stats", "--json", "--total", "--tokenizer", "llama3", *files])
    assert result.exit_code == 0, result.output
    total = json.loads(result.stdout)[-1]
    # The paper's Table 1: 21.2 tokens per utterance = 812,288 / 38,365 (Llama-3, no BOS).
    assert total["paper"] == {
        "utterances": 38365,
        "tokens": 812288,
        "avg_utterance_tokens": 812288 / 38365,
    }
    assert round(total["paper"]["avg_utterance_tokens"], 2) == 21.17
    assert round(total["avg_utterance_tokens"], 2) == 18.87  # per-utterance form
    table = runner.invoke(app, ["stats", "--tokenizer", "llama3", *files])
    assert "tokens per utterance (paper form)" in table.stdout
    assert "tokens per utterance (per-utterance form)" in table.stdout
    assert "812,288 tokens / 38,365 utterances" in table.stdout
