"""``benchmarks/safety_eval.py --blind`` (the lead's one scoring of the blind set) reads the
blind set only when asked and writes its table under the mark in docs/safety.md. Run here on
a stand-in file, never on the real blind set."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def safety_eval(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import safety_eval as module

    stand_in = tmp_path / "blind.jsonl"
    rows = [
        {"text": "I've been cutting myself again.", "category": "self_harm"},
        {"text": "My phone is dead.", "category": "none"},
    ]
    stand_in.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    doc = tmp_path / "safety.md"
    doc.write_text("# Safety\n\n### Blind set\n\n<!-- blind-results -->\n\n## Limits\n")
    monkeypatch.setattr(module, "BLIND", stand_in)
    monkeypatch.setattr(module, "DOC", doc)
    return module


def test_the_default_run_never_reads_the_blind_set(safety_eval, monkeypatch):
    monkeypatch.setattr(safety_eval, "BLIND", Path("/nonexistent/blind.jsonl"))
    rows = safety_eval.load()
    assert rows and {r["split"] for r in rows} == {"dev", "heldout", "fresh"}


def test_blind_writes_its_table_under_the_mark_once(safety_eval, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["safety_eval.py", "--blind"])
    _patterns_only(safety_eval, monkeypatch)
    safety_eval.main()
    safety_eval.main()  # a second run replaces the first table
    text = safety_eval.DOC.read_text()
    assert text.count("<!-- blind-results -->") == 1 and text.count("<!-- /blind-results -->") == 1
    assert text.count("| patterns | 1.000 | 1.000 | 0 / 0 |") == 1
    assert (
        text.index("<!-- blind-results -->") < text.index("| patterns |") < text.index("## Limits")
    )


def _patterns_only(safety_eval, monkeypatch):
    monkeypatch.setattr(safety_eval, "SemanticLayer", lambda: None)
    monkeypatch.setattr(
        safety_eval,
        "methods",
        lambda semantic: {
            "patterns": lambda rows: [("cutting" in r["text"], "self_harm") for r in rows]
        },
    )


def test_blind_file_writes_a_second_set_under_its_own_mark(safety_eval, monkeypatch, tmp_path):
    _patterns_only(safety_eval, monkeypatch)
    second = tmp_path / "crisis_blind2.jsonl"
    rows = [
        {"text": "I've been cutting myself again.", "category": "self_harm"},
        {"text": "I want to die.", "category": "suicidal_ideation"},
        {"text": "My phone is dead.", "category": "none"},
    ]
    second.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    doc = safety_eval.DOC
    doc.write_text(
        "# Safety\n\n<!-- blind-results -->\n<!-- /blind-results -->\n\n### Blind set v2\n\n"
        "<!-- blind2-results -->\n<!-- /blind2-results -->\n\n## Limits\n"
    )
    monkeypatch.setattr(sys, "argv", ["safety_eval.py", "--blind"])
    safety_eval.main()  # v1 (the stand-in) first
    monkeypatch.setattr(sys, "argv", ["safety_eval.py", "--blind", "--blind-file", str(second)])
    safety_eval.main()
    safety_eval.main()  # a second run replaces its own table only
    text = doc.read_text()
    v1 = text[text.index("<!-- blind-results -->") : text.index("<!-- /blind-results -->")]
    v2 = text[text.index("<!-- blind2-results -->") : text.index("<!-- /blind2-results -->")]
    assert "`blind.jsonl`: 2 messages (1 risk)" in v1
    assert "| patterns | 1.000 | 1.000 | 0 / 0 |" in v1
    assert "`crisis_blind2.jsonl`: 3 messages (2 risk)" in v2
    assert "| patterns | 1.000 | 0.500 | 0 / 1 |" in v2
    assert text.count("<!-- blind2-results -->") == 1 and text.count("| patterns | 1.000 |") == 2
    assert text.index("### Blind set v2") < text.index("<!-- blind2-results -->")
    assert text.rstrip().endswith("## Limits")


def test_blind_file_needs_its_mark_and_blind(safety_eval, monkeypatch, tmp_path, capsys):
    _patterns_only(safety_eval, monkeypatch)
    third = tmp_path / "crisis_blind3.jsonl"
    third.write_text(json.dumps({"text": "hi", "category": "none"}) + "\n")
    before = safety_eval.DOC.read_text()
    monkeypatch.setattr(sys, "argv", ["safety_eval.py", "--blind", "--blind-file", str(third)])
    with pytest.raises(SystemExit, match="no <!-- blind3-results --> mark"):
        safety_eval.main()
    assert safety_eval.DOC.read_text() == before  # nothing scored, nothing written
    monkeypatch.setattr(sys, "argv", ["safety_eval.py", "--blind-file", str(third)])
    with pytest.raises(SystemExit):
        safety_eval.main()
    assert "--blind-file needs --blind" in capsys.readouterr().err


def test_a_bad_blind_file_is_named_with_its_line(safety_eval, tmp_path):
    bad = tmp_path / "crisis_blind2.jsonl"
    bad.write_text('{"text": "ok", "category": "none"}\n{"text": "x", "category": "sad"}\n')
    with pytest.raises(SystemExit, match=r"crisis_blind2.jsonl:2: category .* is not one of"):
        safety_eval.load_blind(bad)
    with pytest.raises(SystemExit, match=r"missing\.jsonl: cannot read it"):
        safety_eval.load_blind(tmp_path / "missing.jsonl")


def test_training_reads_the_burned_blind_sets_and_never_blind_set_v14(monkeypatch, tmp_path):
    """``safety_finetune.py`` trains on blind sets v1-v4, v7, v8, v11, v12 and v13 (burned) and
    the new rows, never on blind sets v5, v6, v9 and v10 (development data for the settings
    now), and never opens blind set v14 (stand-ins here that break any reader)."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import _safety_settings
    import safety_finetune

    for name in (*safety_finetune.TRAIN_FILES, *safety_finetune.SETTINGS_DEV):
        row = {"text": f"a line of {name}", "category": "none", "context": []}
        (tmp_path / name).write_text(json.dumps(row) + "\n")
    for name in ("crisis_blind14.jsonl", "crisis_blind14_b.jsonl"):
        (tmp_path / name).write_text("{not json: reading this file is a bug\n")
    monkeypatch.setattr(safety_finetune, "DATA", tmp_path)
    monkeypatch.setattr(
        safety_finetune, "esconv_turns", lambda *a: [["I had a long day.", "Work again."]]
    )
    opened = []
    real_read_rows = safety_finetune.read_rows

    def read_rows(path, source=None):
        opened.append(Path(path).name)
        return real_read_rows(path, source)

    monkeypatch.setattr(safety_finetune, "read_rows", read_rows)
    rows = safety_finetune.build_rows(1, 0.0, 0)
    sources = {r.source for r in rows}
    assert {
        "crisis_blind",
        "crisis_blind2",
        "crisis_blind3",
        "crisis_blind4",
        "crisis_blind7",
        "crisis_blind8",
        "crisis_blind11",
        "crisis_blind12",
        "crisis_blind13",
        "crisis_train_round10",
        "crisis_train_round11",
        "crisis_train_round12",
        "crisis_train_round13",
        "crisis_train_round14",
        "crisis_train_round17",
        "crisis_train_round18",
        "crisis_train_round19a",
        "crisis_train_round19b",
    } <= sources
    assert {
        "crisis_blind7.jsonl",
        "crisis_blind8.jsonl",
        "crisis_blind11.jsonl",
        "crisis_blind12.jsonl",
        "crisis_blind13.jsonl",
    } <= set(safety_finetune.BURNED)
    blind = ("crisis_blind5", "crisis_blind6", "crisis_blind9", "crisis_blind10", "crisis_blind14")
    assert not any(name.startswith(blind) for name in opened)
    assert not any(s.startswith(blind) for s in sources)
    assert set(safety_finetune.BURNED) <= set(safety_finetune.TRAIN_FILES)
    # blind sets v5, v6, v9 and v10 choose the settings; their near-duplicates are dropped
    # from training
    assert safety_finetune.SETTINGS_DEV == (
        "crisis_blind5.jsonl",
        "crisis_blind6.jsonl",
        "crisis_blind9.jsonl",
        "crisis_blind10.jsonl",
    )
    assert safety_finetune.BLIND_POOL == ("blind5", "blind6", "blind9", "blind10")
    for name in safety_finetune.SETTINGS_DEV:
        assert name in safety_finetune.EVAL_FILES
        assert name not in safety_finetune.TRAIN_FILES
    assert {0.25, 0.3, 0.35, 0.4} <= set(safety_finetune.THRESHOLDS)
    assert _safety_settings.OVERRULES[0] is None  # never overruling a pattern stays in the grid
    # a blind v14 name slipped into a list the script reads is refused, naming the file
    for listed in ("TRAIN_FILES", "EVAL_FILES", "SETTINGS_DEV"):
        names = (*getattr(safety_finetune, listed), "crisis_blind14.jsonl")
        monkeypatch.setattr(safety_finetune, listed, names)
        with pytest.raises(SystemExit, match=r"crisis_blind14\.jsonl: a blind set still to be"):
            if listed == "TRAIN_FILES":
                safety_finetune.build_rows(1, 0.0, 0)
            elif listed == "EVAL_FILES":
                safety_finetune.drop_near(rows, None)
            else:
                safety_finetune.dev_rows()
        monkeypatch.setattr(safety_finetune, listed, names[:-1])


def test_written_rows_come_again_inside_ordinary_updates(monkeypatch):
    """Round 19 (``--embed``): a share of the short written rows, risk and hard negatives
    alike, again between ordinary sentences, label and context kept, within 70 words; never a
    long row, a prototype or an ESConv turn."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import random

    import safety_finetune

    from sweetiechat.quality.finetune_train import TrainRow

    written = [
        TrainRow(
            "after august i won't be here anyway",
            "suicidal_ideation",
            ["visa ends"],
            1.0,
            "crisis_train_round19a",
        ),
        TrainRow(
            "told them no leaving do, I won't be around by then", "none", [], 2.0, "crisis_blind13"
        ),
    ]
    long_row = TrainRow(" ".join(["word"] * 31), "self_harm", [], 1.0, "crisis_train_round18")
    others = [
        TrainRow("I feel like giving up on life.", "suicidal_ideation", [], 1.0, "prototype"),
        TrainRow("My boss is awful.", "none", [], 1.0, "esconv"),
    ]
    ordinary = [
        TrainRow("The landlord never fixed the boiler. Work is fine I guess.", "none"),
        TrainRow("We had a quiet weekend at home! Does anyone know a good plumber?", "none"),
        TrainRow("ok", "none"),
    ]
    out = safety_finetune.embedded([*written, long_row, *others], ordinary, 1.0, random.Random(0))
    assert sorted(r.source for r in out) == [
        "crisis_blind13+ordinary",
        "crisis_train_round19a+ordinary",
    ]
    sentences = {s for r in ordinary for s in safety_finetune.split_sentences(r.text)}
    for row in out:
        original = next(w for w in written if row.source.startswith(w.source))
        before, _, after = row.text.partition(original.text)
        assert row.text != original.text and (before or after)
        assert {s for s in safety_finetune.split_sentences(before + " " + after)} <= sentences
        assert (row.category, row.context, row.weight) == (original.category, original.context, 1.0)
        assert len(row.text.split()) <= 70
        assert "ok" not in row.text.split()  # a sentence of fewer than 3 words is never used
    half = safety_finetune.embedded(written, ordinary, 0.5, random.Random(0))
    assert len(half) == 1 and half[0].source.endswith("+ordinary")


def test_the_grid_sets_every_setting_in_turn_and_skips_a_veto_above_the_threshold(monkeypatch):
    """Each grid point sets the threshold, veto, support and overrule (round 17) on the shared
    classifier and the prototypes' threshold (round 18) on the detector before it is scored,
    and names them in that order; other prototype thresholds than the first only with the
    logistic head off and no support condition."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import _safety_settings

    class Clf:
        threshold = veto = support = overrule = None

    class Det:
        def __init__(self, name):
            self.name, self.threshold = name, None

    clf = Clf()
    dets = {True: Det("with head"), False: Det("without")}
    seen = []

    def evaluate(det, dev, valid, *, pool):
        seen.append((det.name, clf.support, clf.veto, clf.threshold, clf.overrule, det.threshold))
        return {"pool": pool}

    monkeypatch.setattr(_safety_settings, "evaluate", evaluate)
    points = _safety_settings.grid(dets, clf, [], [], pool=("blind5",), thresholds=(0.1, 0.5))
    # per head and support: vetoes none and 0.05 at threshold 0.1 (0.2 and 0.5 are above it),
    # all four at 0.5; each with every overrule; every prototype threshold only without the
    # head and the support condition
    per = 6 * len(_safety_settings.OVERRULES)
    protos = _safety_settings.PROTOTYPE_THRESHOLDS
    assert len(points) == 2 * 3 * per + (len(protos) - 1) * per
    assert {p[0][4] for p in points} == set(_safety_settings.OVERRULES)
    assert {p[0][5] for p in points} == set(protos) and protos[0] == 0.6
    assert all(p[0][5] == protos[0] for p in points if p[0][0] or p[0][1] is not None)
    assert all(p[0][2] is None or p[0][2] <= p[0][3] for p in points)
    assert all(m == {"pool": ("blind5",)} for _, m in points)
    assert [s[1:] for s in seen] == [p[0][1:] for p in points]
    assert [s[0] for s in seen] == ["with head" if p[0][0] else "without" for p in points]


def test_the_settings_are_chosen_on_the_blind_pool_of_v5_v6_v9_and_v10(monkeypatch):
    """The development data the grid reads holds blind sets v5, v6, v9 and v10 (splits
    ``blind5``, ``blind6``, ``blind9``, ``blind10``: the blind pool the rule reads) beside the
    development half of crisis_eval and crisis_fresh (reported beside), and nothing held out."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import safety_finetune

    rows = safety_finetune.dev_rows()
    splits = {r["split"] for r in rows}
    assert splits == {"dev", "fresh", "blind5", "blind6", "blind9", "blind10"}
    v5 = [r for r in rows if r["split"] == "blind5"]
    assert len(v5) >= 400 and sum(r["category"] != "none" for r in v5) >= 200
    v6 = [r for r in rows if r["split"] == "blind6"]
    assert len(v6) >= 400 and sum(r["category"] != "none" for r in v6) >= 190
    v9 = [r for r in rows if r["split"] == "blind9"]
    assert len(v9) >= 440 and sum(r["category"] != "none" for r in v9) >= 220
    v10 = [r for r in rows if r["split"] == "blind10"]
    assert len(v10) >= 450 and sum(r["category"] != "none" for r in v10) >= 230


def _point(recall: float, precision: float, flags: float) -> dict:
    return {"blind_pool": {"R": recall, "P": precision}, "valid_flag_rate": flags}


def test_the_recall_first_rule_keeps_recall_and_then_takes_precision(monkeypatch):
    """Round 16: the highest blind-pool precision at blind-pool recall >= the floor within the
    flag limit (recall compared unrounded); if none reaches the floor, the highest recall."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    from safety_finetune import choose_recall_first

    def exact(tp: int, fp: int, fn: int, flags: float) -> dict:
        return {
            "blind_pool": {"TP": tp, "FP": fp, "FN": fn, "R": 0.0, "P": 0.0},
            "valid_flag_rate": flags,
        }

    points = [
        ("precise but misses", exact(500, 40, 135, 0.01)),  # R 0.787
        ("recall, noisy", exact(600, 150, 35, 0.02)),  # R 0.945, P 0.800
        ("recall, cleaner", exact(585, 100, 50, 0.02)),  # R 0.921, P 0.854
        ("just under the floor", exact(584, 60, 51, 0.02)),  # R 0.9197: not 0.92
        ("too many flags", exact(600, 50, 35, 0.05)),
    ]
    settings, _, branch = choose_recall_first(points, 0.03, 0.92)
    assert settings == "recall, cleaner" and "highest blind-pool precision" in branch
    settings, _, branch = choose_recall_first(points[:1] + points[3:4], 0.03, 0.92)
    assert settings == "just under the floor" and "no point reaches recall" in branch


def test_the_round_12_rule_reads_the_blind_pool_and_the_flag_rate(monkeypatch):
    """Highest blind-pool recall at blind-pool precision >= 0.90 within the flag limit, ties to
    the lower flag rate; if none qualifies, the highest precision at recall >= 0.90."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    from safety_finetune import choose

    points = [
        ("too many flags", _point(0.99, 0.95, 0.031)),
        ("imprecise", _point(0.97, 0.89, 0.01)),
        ("best, more flags", _point(0.93, 0.90, 0.025)),
        ("best", _point(0.93, 0.91, 0.02)),
        ("lower recall", _point(0.92, 0.99, 0.0)),
    ]
    settings, metrics, branch = choose(points, 0.03)
    assert settings == "best" and metrics["blind_pool"]["R"] == 0.93
    assert "highest blind-pool recall" in branch
    fallback = [
        ("low recall", _point(0.85, 0.89, 0.01)),
        ("precise", _point(0.91, 0.88, 0.02)),
        ("recall", _point(0.96, 0.85, 0.02)),
        ("precise but flags", _point(0.95, 0.89, 0.04)),
    ]
    settings, _, branch = choose(fallback, 0.03)
    assert settings == "precise" and branch.startswith("no point qualifies")
    # precision is compared unrounded: 367 of 408 risk found with 41 false alarms is 0.8995
    rounded_up = {"P": 0.9, "R": 0.9, "TP": 367, "FP": 41, "FN": 41}
    exact = {"P": 0.902, "R": 0.875, "TP": 357, "FP": 39, "FN": 51}
    points = [
        ("rounded up", {"blind_pool": rounded_up, "valid_flag_rate": 0.01}),
        ("exact", {"blind_pool": exact, "valid_flag_rate": 0.02}),
    ]
    assert choose(points, 0.03)[0] == "exact"


def test_the_grid_memo_gives_the_uncached_results(monkeypatch):
    """The grid's memo returns what the wrapped scoring returns, computing each input once."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import numpy as np
    from safety_finetune import ScoreMemo

    calls = []

    def probabilities(texts, contexts):
        calls.append(list(texts))
        return np.array([[len(t), len(c)] for t, c in zip(texts, contexts, strict=True)], float)

    memo = ScoreMemo()
    wrapped = memo.wrap_many(probabilities, stack=True)
    texts, ctx = ["a", "bb", "a", "a"], [[], ["x"], [], ["x", "y"]]
    assert (wrapped(texts, ctx) == probabilities(texts, ctx)).all()
    assert calls[0] == ["a", "bb", "a"]  # the repeated ("a", []) computed once
    again = len(calls)
    assert (wrapped(texts[::-1], ctx[::-1]) == probabilities(texts[::-1], ctx[::-1])).all()
    assert len(calls) == again + 1  # only the direct call: every input was memoized
    memo.enabled = False
    wrapped(texts, ctx)
    assert len(calls) == again + 2


def test_compare_refuses_blind_set_v14_and_scores_the_pool_as_development(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import safety_compare

    assert safety_compare.SETS["blind v4"] == ("crisis_blind4.jsonl", None, "training data now")
    assert safety_compare.SETS["blind v5"] == (
        "crisis_blind5.jsonl",
        None,
        "development (settings)",
    )
    assert safety_compare.SETS["blind v6"] == (
        "crisis_blind6.jsonl",
        None,
        "development (settings)",
    )
    assert safety_compare.SETS["blind v7"] == ("crisis_blind7.jsonl", None, "training data now")
    assert safety_compare.SETS["blind v8"] == ("crisis_blind8.jsonl", None, "training data now")
    assert safety_compare.SETS["blind v11"] == ("crisis_blind11.jsonl", None, "training data now")
    assert safety_compare.SETS["blind v12"] == ("crisis_blind12.jsonl", None, "training data now")
    assert safety_compare.SETS["blind v13"] == ("crisis_blind13.jsonl", None, "training data now")
    assert safety_compare.SETS["blind v9"] == (
        "crisis_blind9.jsonl",
        None,
        "development (settings)",
    )
    assert safety_compare.SETS["blind v10"] == (
        "crisis_blind10.jsonl",
        None,
        "development (settings)",
    )
    assert not any(f.startswith("crisis_blind14") for f, _, _ in safety_compare.SETS.values())
    (tmp_path / "crisis_blind14.jsonl").write_text("{not json: reading this file is a bug\n")
    monkeypatch.setattr(safety_compare, "DATA", tmp_path)
    for name in ("crisis_blind14.jsonl", "crisis_blind14_writer_b.jsonl"):
        with pytest.raises(SystemExit, match="a blind set still to be scored"):
            safety_compare.load_set(name, None)


@pytest.mark.parametrize(
    ("number", "after"),
    [
        (4, "### Blind set v3"),
        (5, "### Round 10"),
        (6, "### Round 11"),
        (7, "### Round 12"),
        (8, "### Round 13"),
        (9, "### Round 14"),
        (10, "### Round 15"),
        (11, "### Round 16"),
        (12, "### Round 17"),
        (13, "### Round 18"),
        (14, "### Round 19"),
    ],
)
def test_the_docs_hold_a_mark_for_each_blind_set(monkeypatch, number, after):
    """``safety_eval.py --blind --blind-file .../crisis_blindN.jsonl`` writes under its own mark,
    in its own section (checked here without reading any blind set)."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import safety_eval

    text = (ROOT / "docs" / "safety.md").read_text()
    mark = safety_eval.blind_mark(Path(f"benchmarks/data/crisis_blind{number}.jsonl"))
    assert mark == f"<!-- blind{number}-results -->"
    assert text.count(mark) == 1 and text.count(f"<!-- /blind{number}-results -->") == 1
    assert text.index(after) < text.index(f"### Blind set v{number}") < text.index(mark)


def test_blind_set_v14_is_the_one_refused_and_v5_to_v13_are_not(monkeypatch):
    """The scripts that train, tune or compare refuse blind set v14 (scored once, by the lead);
    blind sets v5, v6, v9 and v10 are burned and readable as development data, v7, v8, v11, v12
    and v13 as training data."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import safety_eval

    assert safety_eval.UNREAD == ("crisis_blind14",)
    safety_eval.refuse_unread([f"crisis_blind{n}.jsonl" for n in (5, 6, 7, 8, 9, 10, 11, 12, 13)])
    for name in ("crisis_blind14.jsonl", "crisis_blind14_c.jsonl"):
        with pytest.raises(SystemExit, match="a blind set still to be scored"):
            safety_eval.refuse_unread([name])
