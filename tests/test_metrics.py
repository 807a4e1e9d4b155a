import json

import numpy as np
import pytest
from typer.testing import CliRunner

from sweetiechat.cli import app
from sweetiechat.metrics.distinct import distinct_averaged, distinct_corpus
from sweetiechat.metrics.response import bleu, score_responses
from sweetiechat.metrics.similarity import pairwise_similarity, tfidf
from sweetiechat.tokenizers import get_tokenizer

runner = CliRunner()
WS = get_tokenizer("whitespace")


def test_distinct_by_hand():
    texts = [["i", "am", "sad", "i", "am"], ["i", "am", "ok"]]
    # bigrams: (i am) (am sad) (sad i) (i am) | (i am) (am ok): 6 total, 4 unique
    assert distinct_corpus(texts, 2) == pytest.approx(4 / 6)
    # per text: 3/4 and 2/2 -> mean 0.875
    assert distinct_averaged(texts, 2) == pytest.approx(0.875)
    # unigrams: 8 total, unique {i, am, sad, ok} = 4
    assert distinct_corpus(texts, 1) == pytest.approx(0.5)
    # trigrams: text 2 has one, text 1 has three all unique
    assert distinct_averaged(texts, 3) == pytest.approx(1.0)
    assert distinct_corpus([["one"]], 2) is None
    assert distinct_averaged([["one"], ["a", "b"]], 2) == 1.0  # texts without bigrams left out


def test_bleu_matches_sacrebleu_and_nltk_on_the_same_tokens():
    from nltk.translate.bleu_score import corpus_bleu
    from sacrebleu.metrics import BLEU

    hyps = ["the cat sat on the mat", "i hear how hard this is for you", "what happened then ?"]
    refs = ["the cat is on the mat", "it sounds hard for you", "what happened next ?"]
    h = [x.split() for x in hyps]
    r = [x.split() for x in refs]
    for order in (2, 4):
        expected = BLEU(tokenize="none", max_ngram_order=order).corpus_score(hyps, [refs])
        assert bleu(h, r, order) == pytest.approx(expected.score / 100)
    # With no zero n-gram count smoothing plays no part, so nltk agrees too.
    assert bleu(h, r, 2) == pytest.approx(corpus_bleu([[x] for x in r], h, (0.5, 0.5)))
    # By hand: p1 = 3/4, p2 = 2/3, no brevity penalty.
    assert bleu([["a", "b", "c", "d"]], [["a", "b", "c", "e"]], 2) == pytest.approx(
        (3 / 4 * 2 / 3) ** 0.5
    )
    assert bleu([["a", "b", "c", "d"]], [["a", "b", "c", "d"]], 4) == pytest.approx(1.0)
    assert bleu(h, r, 2) > bleu(h, r, 4)


def test_score_responses_all_metrics_as_fractions():
    hyps = ["I am sorry you feel so tired.", "What happened at work today?"]
    refs = ["I am sorry you are so tired.", "What happened at work?"]
    result = score_responses(hyps, refs, WS)
    keys = {
        "bleu2",
        "bleu4",
        "rouge2",
        "rougeL",
        "distinct2",
        "distinct3",
        "distinct2_corpus",
        "distinct3_corpus",
        "meteor",
        "bertscore_f1",
    }
    assert keys <= set(result)
    for k in keys:
        assert 0.0 <= result[k] <= 1.0, k
    assert result["n"] == 2 and result["tokenizer"] == "whitespace"
    assert "MiniLM" in result["bertscore_model"]
    same = score_responses(refs, refs, WS)
    assert same["bleu4"] == pytest.approx(1.0)
    assert same["rougeL"] == pytest.approx(1.0) and same["rouge2"] == pytest.approx(1.0)
    assert same["meteor"] > 0.95
    assert same["bertscore_f1"] == pytest.approx(1.0, abs=1e-4)
    assert result["bertscore_f1"] < same["bertscore_f1"]


def test_meteor_uses_wordnet_synonyms():
    from sweetiechat.metrics.response import meteor

    synonym = meteor([["the", "car", "is", "red"]], [["the", "auto", "is", "red"]])
    unrelated = meteor([["the", "banana", "is", "red"]], [["the", "auto", "is", "red"]])
    assert synonym > unrelated  # "car" and "auto" share a WordNet synset


def test_blocked_similarity_equals_dense_all_pairs():
    from sklearn.metrics.pairwise import cosine_similarity

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(60)]
    texts = [" ".join(rng.choice(words, size=12)) for _ in range(230)]
    hist = pairwise_similarity(texts, block=17)
    matrix = tfidf(texts)
    dense = cosine_similarity(matrix)
    upper = dense[np.triu_indices(len(texts), k=1)]
    assert hist.pairs == len(texts) * (len(texts) - 1) // 2 == upper.size
    assert hist.mean == pytest.approx(float(upper.mean()), abs=1e-5)
    assert hist.median == pytest.approx(float(np.median(upper)), abs=1.5e-3)
    expected = np.bincount(
        np.minimum((np.clip(upper, 0, 1) * 1000).astype(int), 999), minlength=1000
    )
    assert np.abs(hist.counts - expected).sum() <= 2  # float32 vs float64 at bin edges


def test_single_text_similarity_is_undefined_not_a_crash():
    h = pairwise_similarity(["only one dialogue here"])
    assert h.pairs == 0 and h.mean is None and h.median is None


def _write_jsonl(path, dialogues):
    path.write_text("".join(json.dumps(d) + "\n" for d in dialogues))
    return path


def _dialogue(i, strategy="Question", scenario=True):
    sup = {"role": "supporter", "text": f"What happened with item {i}?"}
    if strategy:
        sup["strategy"] = strategy
    return {
        "id": f"d{i}",
        "problem_type": "Burnout" if i % 2 else "Job Crisis",
        "scenario": f"My boss yelled at me about item {i}." if scenario else None,
        "profile": None,
        "turns": [{"role": "seeker", "text": f"I am stressed about {i}."}, sup],
    }


def test_analyze_writes_report_and_plots(esconv_small, tmp_path):
    gen = _write_jsonl(tmp_path / "gen.jsonl", [_dialogue(i) for i in range(6)])
    out = tmp_path / "report"
    result = runner.invoke(
        app, ["analyze", str(esconv_small), str(gen), "--out", str(out), "--tokenizer", "word"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert [d["label"] for d in report["datasets"]] == ["esconv_small", "gen"]
    for name in (
        "strategy_shares",
        "strategy_progress",
        "distinct_strategies",
        "dialogue_similarity",
        "response_similarity",
        "scenario_similarity",
    ):
        png = out / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    first = report["datasets"][0]
    assert first["stats"]["dialogues"] == 3
    assert len(first["strategies"]["interval_shares"]) == 6
    assert first["distinct"]["dialogues"] == 3
    md = (out / "report.md").read_text()
    assert "## Strategies" in md and "![strategy shares](strategy_shares.png)" in md


def test_analyze_without_strategies_or_with_one_dialogue(tmp_path):
    plain = _write_jsonl(
        tmp_path / "plain.jsonl", [_dialogue(i, strategy=None, scenario=False) for i in range(4)]
    )
    single = _write_jsonl(tmp_path / "single.jsonl", [_dialogue(0)])
    out = tmp_path / "r"
    result = runner.invoke(
        app, ["analyze", str(plain), str(single), "--out", str(out), "--tokenizer", "whitespace"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    plain_r, single_r = report["datasets"]
    assert plain_r["strategies"] is None
    assert any("no supporter turn has a strategy" in n for n in plain_r["notes"])
    assert single_r["similarity"]["overall"]["mean"] is None
    assert any("similarity is undefined" in n for n in single_r["notes"])
    assert "n/a" in (out / "report.md").read_text()


def test_analyze_samples_large_inputs(tmp_path):
    from sweetiechat.metrics.analysis import AnalysisSettings, analyze_file

    path = _write_jsonl(tmp_path / "many.jsonl", [_dialogue(i) for i in range(400)])
    a = analyze_file(
        path, WS, AnalysisSettings(max_dialogues=50, max_responses=20, distinct_sample=30)
    )
    assert a.stats.dialogues == 400
    assert a.sampled_dialogues == 50 and a.overall.pairs == 50 * 49 // 2
    assert a.same_strategy["Question"].pairs == 20 * 19 // 2
    assert a.distinct["dialogues"] == 30
    again = analyze_file(path, WS, AnalysisSettings(max_dialogues=50))
    assert again.overall.mean == a.overall.mean  # seeded


def test_analyze_bad_inputs(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    result = runner.invoke(app, ["analyze", str(empty), "--out", str(tmp_path / "o")])
    assert result.exit_code != 0
    assert "file is empty" in str(result.exception)


def test_score_cli_json_and_errors(tmp_path):
    hyp, ref, short = tmp_path / "h.txt", tmp_path / "r.txt", tmp_path / "s.txt"
    hyp.write_text("I hear you.\nWhat happened?\n")
    ref.write_text("I understand.\nWhat happened next?\n")
    short.write_text("one line\n")
    result = runner.invoke(
        app, ["score", str(hyp), str(ref), "--json", "--tokenizer", "whitespace", "--no-bertscore"]
    )
    assert result.exit_code == 0, result.output
    obj = json.loads(result.stdout)
    assert obj["n"] == 2 and obj["bertscore_f1"] is None and 0 <= obj["bleu2"] <= 1
    result = runner.invoke(app, ["score", str(hyp), str(short)])
    assert "has 2 responses but" in str(result.exception) and "has 1" in str(result.exception)
    result = runner.invoke(app, ["score", str(hyp), str(ref), "--tokenizer", "sentencepiece"])
    assert "unknown tokenizer 'sentencepiece'" in str(result.exception)


def test_score_reads_dialogue_files(esconv_small, esconv_original):
    result = runner.invoke(
        app,
        [
            "score",
            str(esconv_small),
            str(esconv_original),
            "--json",
            "--tokenizer",
            "word",
            "--no-bertscore",
        ],
    )
    assert result.exit_code == 0, result.output
    obj = json.loads(result.stdout)
    assert obj["n"] == 14  # the fixture's supporter turns
    assert obj["bleu4"] == pytest.approx(1.0) and obj["rougeL"] == pytest.approx(1.0)


def test_paper_form_distinct_by_hand():
    from sweetiechat.metrics.analysis import corpus_distinct
    from sweetiechat.types import Dialogue, Turn

    d = Dialogue(
        id="x",
        problem_type="Burnout",
        turns=[
            Turn(role="seeker", text="a b"),
            Turn(role="supporter", text="a b", strategy="Question"),
        ],
    )
    out = corpus_distinct([d, d], WS)
    # paper form: "usr: a b" / "sys: a b" is one text of 6 tokens, n-grams cross the line
    paper = out["paper"]
    assert out["dialogues"] == 2 and paper["texts"] == 2 and paper["tokens"] == 12
    assert [(c["unique"], c["total"]) for c in paper["counts"]] == [(4, 12), (4, 10), (4, 8)]
    assert paper["distinct2"] == pytest.approx(4 / 10)
    # per utterance: four texts "a b", n-grams never cross utterances
    per = out["per_utterance"]
    assert per["texts"] == 4
    assert [(c["unique"], c["total"]) for c in per["counts"]] == [(2, 8), (1, 4), (0, 0)]
    assert per["distinct3"] is None


def test_paper_form_distinct_on_esconv_matches_the_paper(esconv_dir):
    from sweetiechat.io import read_dialogues
    from sweetiechat.metrics.analysis import corpus_distinct

    llama3 = get_tokenizer("llama3")
    dialogues = [
        d for s in ("train", "valid", "test") for d in read_dialogues(esconv_dir / f"{s}.json")
    ]
    out = corpus_distinct(dialogues, llama3)
    paper = out["paper"]
    # The paper's Table 6, ESConv: Distinct-1/2/3 = 1.82 / 19.76 / 49.38, exactly these counts.
    assert [(c["unique"], c["total"]) for c in paper["counts"]] == [
        (14801, 812288),
        (160220, 810988),
        (399795, 809688),
    ]
    assert [round(100 * paper[f"distinct{n}"], 2) for n in (1, 2, 3)] == [1.82, 19.76, 49.38]
    per = out["per_utterance"]
    assert per["texts"] == 38365
    assert [round(100 * per[f"distinct{n}"], 2) for n in (1, 2, 3)] == [2.14, 22.90, 57.59]


@pytest.mark.slow
def test_analyze_together_prints_the_papers_numbers_on_esconv(esconv_dir, tmp_path):
    files = [str(esconv_dir / f"{s}.json") for s in ("train", "valid", "test")]
    out = tmp_path / "r"
    result = runner.invoke(
        app,
        [
            "analyze",
            *files,
            "--together",
            "--out",
            str(out),
            "--max-dialogues",
            "60",
            "--max-responses",
            "30",
            "--problem-type",
            "Job Crisis",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert [d["label"] for d in report["datasets"]] == ["train", "valid", "test", "all"]
    whole = report["datasets"][-1]
    assert whole["stats"]["dialogues"] == 1300 and whole["distinct"]["dialogues"] == 1300
    assert round(whole["stats"]["paper"]["avg_utterance_tokens"], 2) == 21.17
    row = next(line for line in result.stdout.splitlines() if "all" in line and "paper" in line)
    assert "21.17" in row and "1.82" in row and "19.76" in row and "49.38" in row
    md = (out / "report.md").read_text()
    assert "| all | paper form | 1300 | 1.82 | 19.76 | 49.38 | 14,801 / 160,220 / 399,795 |" in md
    assert "| all | per utterance | 1300 | 2.14 | 22.90 | 57.59 |" in md


def test_analyze_reports_progress_per_stage(esconv_small, tmp_path):
    from sweetiechat.metrics.report import write_report

    seen = []
    write_report(
        [esconv_small, esconv_small],
        tmp_path,
        WS,
        together=True,
        on_progress=lambda label, stage, done: seen.append((label, stage)),
    )
    stages = [s for label, s in seen if label == "all"]
    assert stages[:2] == ["dialogue similarity", "response similarity"]
    assert "Distinct-n" in stages
    assert seen[-1] == ("report", "plots")


def test_rouge_matches_rouge_score():
    from rouge_score import rouge_scorer

    from sweetiechat.metrics.response import rouge

    class Split:
        def tokenize(self, text):
            return text.split()

    hyps = ["the cat sat on the mat", "i hear you", "", "a a a b", "what happened then ?"]
    refs = ["the cat is on the mat", "it sounds hard for you", "x", "a b a", "so what happened ?"]
    scorer = rouge_scorer.RougeScorer(["rouge2", "rougeL"], tokenizer=Split())
    expected = [scorer.score(r, h) for h, r in zip(hyps, refs, strict=True)]
    got = rouge([h.split() for h in hyps], [r.split() for r in refs])
    assert got["rouge2"] == pytest.approx(sum(e["rouge2"].fmeasure for e in expected) / 5)
    assert got["rougeL"] == pytest.approx(sum(e["rougeL"].fmeasure for e in expected) / 5)


def test_score_computes_only_the_chosen_metrics(tmp_path):
    hyp, ref = tmp_path / "h.txt", tmp_path / "r.txt"
    hyp.write_text("I hear you.\nWhat happened?\n")
    ref.write_text("I understand.\nWhat happened next?\n")
    result = runner.invoke(
        app, ["score", str(hyp), str(ref), "--json", "--tokenizer", "word", "--metrics", "rouge"]
    )
    assert result.exit_code == 0, result.output
    obj = json.loads(result.stdout)
    assert obj["rougeL"] > 0 and obj["bleu2"] is None and obj["meteor"] is None
    assert obj["bertscore_f1"] is None
    result = runner.invoke(app, ["score", str(hyp), str(ref), "--metrics", "bleu,sacre"])
    assert "unknown metric sacre" in str(result.exception)


def _run_cli(args, block=(), env_extra=None):
    """Run the real CLI in a fresh interpreter, with ``block`` modules made unimportable
    (as on a core install without the extra); returns the CompletedProcess."""
    import os
    import subprocess
    import sys

    code = (
        "import sys\n"
        f"for m in {list(block)!r}: sys.modules[m] = None\n"
        "from sweetiechat.cli import main\n"
        f"sys.argv = ['sweetiechat', *{list(args)!r}]\n"
        "try:\n"
        "    main()\n"
        "    code = 0\n"
        "except SystemExit as exit:\n"
        "    code = exit.code\n"
        "print('LOADED', *sorted(m for m in ('torch', 'nltk', 'transformers') "
        "if sys.modules.get(m)))\n"
        "sys.exit(code)\n"
    )
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )


CORE_ONLY = ["quicktok", "sacrebleu", "scipy", "sklearn", "matplotlib", "nltk", "bert_score"]


def test_score_and_analyze_on_a_core_install_fail_in_one_line(esconv_small, tmp_path):
    hyp = tmp_path / "h.txt"
    hyp.write_text("I hear you.\n")
    for args in (
        ["score", str(hyp), str(hyp), "--tokenizer", "word"],
        ["analyze", str(esconv_small), "--out", str(tmp_path / "o")],
    ):
        proc = _run_cli(args, block=CORE_ONLY)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, proc.stderr
        assert lines[0].startswith("error: ") and "pip install 'sweetiechat[metrics]'" in lines[0]
    proc = _run_cli(["score", str(hyp), str(hyp)], block=["quicktok"])
    assert "quicktok-v1" in proc.stderr and "--tokenizer word" in proc.stderr


def test_score_without_bertscore_or_meteor_loads_neither_torch_nor_nltk(tmp_path):
    hyp = tmp_path / "h.txt"
    hyp.write_text("I hear you.\nWhat happened?\n")
    proc = _run_cli(["score", str(hyp), str(hyp), "--metrics", "bleu,rouge,distinct", "--json"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "LOADED"  # none of torch, nltk, transformers
