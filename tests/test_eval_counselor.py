"""Counselor evaluation: preference bias B, the metrics, and the files evaluate_counselor writes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from sweetiechat.agents.counselor import CounselorAgent, StrategyChoice
from sweetiechat.errors import UserError
from sweetiechat.eval import (
    bradley_terry_strengths,
    evaluate_counselor,
    preference_bias,
    read_predictions,
    score_predictions,
)
from sweetiechat.eval.bias import confusion_counts
from sweetiechat.taxonomy import Strategy
from sweetiechat.trainer.dataset import StrategyExample, load_strategy_examples
from sweetiechat.types import Dialogue, Turn

Q, R, O = Strategy.QUESTION, Strategy.RESTATEMENT, Strategy.OTHERS  # noqa: E741
IDX = {s: i for i, s in enumerate(Strategy)}


# --- preference bias B -------------------------------------------------------------------


def test_preference_bias_two_strategies_by_hand() -> None:
    # Gold Others predicted as Question twice, gold Question predicted as Others once:
    # W[Q, O] = 2 (Question "beats" Others twice), W[O, Q] = 1. The other 6 strategies are
    # never confused, so they keep strength 1.
    # Sweep 1, i = Q: p_Q = W[Q,O] p_O / (p_Q + p_O) / (W[O,Q] / (p_Q + p_O)) = (2/2)/(1/2) = 2.
    #          i = O (sees p_Q = 2): p_O = (1 * 2/3) / (2/3) = 1. Later sweeps: unchanged
    #          (Q: (2 * 1/3) / (1/3) = 2), the Bradley-Terry solution p_Q / p_O = 2 / 1.
    # Scale [2, 1, 1, 1, 1, 1, 1, 1] (sum 9) to sum 8: Q = 16/9, the others 8/9; mean 1.
    # B = sqrt(((16/9 - 1)^2 + 7 (8/9 - 1)^2) / 8) = sqrt((49 + 7) / 81 / 8) = sqrt(7) / 9.
    gold = [O, O, Q, Q, R]
    pred = [Q, Q, O, Q, R]
    wins = confusion_counts([IDX[g] for g in gold], [IDX[p] for p in pred]).T
    assert wins[IDX[Q], IDX[O]] == 2 and wins[IDX[O], IDX[Q]] == 1
    strengths = bradley_terry_strengths(wins)
    assert strengths[IDX[Q]] == pytest.approx(16 / 9)
    assert strengths[IDX[O]] == pytest.approx(8 / 9)
    assert strengths.sum() == pytest.approx(8)
    assert preference_bias(wins) == pytest.approx(math.sqrt(7) / 9)
    metrics = score_predictions(gold, pred, counselor="hand")
    assert metrics.preference_bias == pytest.approx(math.sqrt(7) / 9)
    assert metrics.per_strategy[Q].strength == pytest.approx(16 / 9)


def test_preference_bias_three_strategies_by_hand() -> None:
    # W[0,1] = 3, W[1,0] = 1 and W[1,2] = 3, W[2,1] = 1 (0 beats 1 beats 2, 3 to 1 each);
    # 0 and 2 never meet. The Bradley-Terry solution has p0/p1 = 3 and p1/p2 = 3, so
    # p = (9, 3, 1), scaled to sum 3: (27/13, 9/13, 3/13); B = population std of those.
    # Check of the fixed point for 1: (W[1,0] p0/(p1+p0) + W[1,2] p2/(p1+p2))
    #   / (W[0,1]/(p1+p0) + W[2,1]/(p1+p2)) = (9/12 + 3/4) / (3/12 + 1/4) = 1.5 / 0.5 = 3.
    wins = np.array([[0, 3, 0], [1, 0, 3], [0, 1, 0]])
    strengths = bradley_terry_strengths(wins, iterations=200)
    assert strengths == pytest.approx([27 / 13, 9 / 13, 3 / 13], rel=1e-6)
    expected = np.std([27 / 13, 9 / 13, 3 / 13])
    assert float(np.std(strengths)) == pytest.approx(expected, rel=1e-6)


def _hunter_mm(wins: np.ndarray, iterations: int) -> np.ndarray:
    """Hunter's (2004) MM update, written independently: p_i = W_i / sum_j N_ij/(p_i+p_j)."""
    n = len(wins)
    p = np.ones(n)
    total = wins + wins.T
    for _ in range(iterations):
        new = np.empty(n)
        for i in range(n):
            den = sum(total[i, j] / (p[i] + p[j]) for j in range(n) if j != i)
            new[i] = wins[i].sum() / den
        p = new / new.sum()
    return p * n / p.sum()


def test_bradley_terry_reaches_the_maximum_likelihood_of_hunters_mm() -> None:
    # The authors' update and Hunter's MM share their fixed point (the MLE).
    rng = np.random.default_rng(0)
    wins = rng.integers(1, 40, size=(8, 8)).astype(float)
    np.fill_diagonal(wins, 500)  # the diagonal (correct predictions) must not matter
    ours = bradley_terry_strengths(wins, iterations=300)
    np.fill_diagonal(wins, 0)
    assert ours == pytest.approx(_hunter_mm(wins, 3000), rel=1e-6)
    # 20 sweeps (the published setting) are already close to it on realistic counts.
    assert bradley_terry_strengths(wins) == pytest.approx(ours, rel=1e-3)


def test_preference_bias_zero_for_perfect_or_symmetric_confusion() -> None:
    assert preference_bias(gold=[0, 1, 2, 3], pred=[0, 1, 2, 3]) == 0.0
    assert preference_bias(gold=[0, 1, 0, 1], pred=[1, 0, 1, 0]) == pytest.approx(0.0)


def test_preference_bias_unbounded_when_one_strategy_always_wins() -> None:
    # Always "Question": Question beats every other gold strategy and never loses.
    gold = [Q, R, O, O]
    assert math.isnan(preference_bias(gold=[IDX[g] for g in gold], pred=[IDX[Q]] * 4))
    metrics = score_predictions(gold, [Q] * 4, counselor="always-question")
    assert metrics.preference_bias is None
    assert metrics.per_strategy[Q].strength is None


def test_score_predictions_matches_hand_counts() -> None:
    gold = [Q, Q, Q, O]
    pred = [Q, Q, O, O]
    m = score_predictions(gold, pred, counselor="x", seconds=2.0)
    assert m.accuracy == 0.75
    # Question: P = 2/2, R = 2/3, F1 = 0.8; Others: P = 1/2, R = 1, F1 = 2/3.
    assert m.per_strategy[Q].f1 == pytest.approx(0.8)
    assert m.per_strategy[O].f1 == pytest.approx(2 / 3)
    assert m.macro_f1 == pytest.approx((0.8 + 2 / 3) / 2)
    assert m.weighted_f1 == pytest.approx((3 * 0.8 + 2 / 3) / 4)
    assert m.decisions_per_second == pytest.approx(2.0)
    assert m.confusion[IDX[Q]][IDX[O]] == 1
    assert m.gold_shares()[Q] == 0.75 and m.predicted_shares()[O] == 0.5
    with pytest.raises(ValueError, match="no examples"):
        score_predictions([], [], counselor="x")


# --- evaluate_counselor ------------------------------------------------------------------


class EchoCounselor(CounselorAgent):
    """Picks the strategy of the last supporter turn (Question when there is none)."""

    name = "echo"

    def __init__(self, fail_after: int | None = None) -> None:
        self.calls = 0
        self.fail_after = fail_after

    async def aselect(self, dialogue: Dialogue) -> StrategyChoice:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("counselor crashed")
        last = [t.strategy for t in dialogue.turns if t.role == "supporter" and t.strategy]
        return StrategyChoice(last[-1] if last else Q, fallback=not last)


class BatchCounselor(CounselorAgent):
    """Always Others, with probabilities, through select_batch only."""

    name = "batch"

    def __init__(self) -> None:
        self.batches: list[int] = []

    async def aselect(self, dialogue: Dialogue) -> StrategyChoice:
        raise AssertionError("select_batch must be used")

    def select_batch(self, dialogues: list[Dialogue]) -> list[StrategyChoice]:
        self.batches.append(len(dialogues))
        probs = {s: (0.65 if s is O else 0.05) for s in Strategy}
        return [StrategyChoice(O, probs) for _ in dialogues]


def _dialogue(i: int, strategies: list[Strategy]) -> Dialogue:
    turns = []
    for s in strategies:
        turns.append(Turn(role="seeker", text=f"seeker says {i}"))
        turns.append(Turn(role="supporter", text=f"supporter says {i}", strategy=s))
    return Dialogue(id=f"d{i}", problem_type="Job Crisis", turns=turns)


def _examples() -> list[StrategyExample]:
    out = []
    for i, strategies in enumerate([[Q, Q, R], [O, O], [Q, R, R, O]]):
        d = _dialogue(i, strategies)
        for index, turn in enumerate(d.turns):
            if turn.role == "supporter" and turn.strategy:
                context = d.model_copy(update={"turns": d.turns[:index]})
                out.append(StrategyExample(d.id, index, context, turn.strategy))
    return out


def test_evaluate_writes_predictions_metrics_and_plots(tmp_path: Path) -> None:
    examples = _examples()
    report = evaluate_counselor(EchoCounselor(), examples, tmp_path, progress=False)
    lines = (tmp_path / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == len(examples) == 9
    first = json.loads(lines[0])
    assert first == {
        "dialogue_id": "d0",
        "turn_index": 1,
        "gold": "Question",
        "pred": "Question",
        "probs": None,
        "fallback": True,
    }
    # Echo is right when a strategy repeats: d0 turn 3, d1 turn 3, d2 turn 5.
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["n"] == 9 and metrics["counselor"] == "echo"
    assert metrics["accuracy"] == pytest.approx(report.metrics.accuracy)
    correct = sum(p.gold == p.pred for p in report.predictions)
    assert metrics["accuracy"] == pytest.approx(correct / 9)
    assert metrics["fallbacks"] == 3  # each dialogue's first supporter turn
    assert 0 <= metrics["macro_f1"] <= 1 and 0 <= metrics["weighted_f1"] <= 1
    assert set(metrics["per_strategy"]) == {s.value for s in Strategy}
    assert metrics["decisions_per_second"] > 0
    for name in ("confusion.png", "shares.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob("*.tmp"))
    assert [(p.dialogue_id, p.turn_index) for p in report.predictions] == [
        (e.dialogue_id, e.turn_index) for e in examples
    ]


def test_batch_counselor_uses_select_batch_and_records_probs(tmp_path: Path) -> None:
    counselor = BatchCounselor()
    report = evaluate_counselor(counselor, _examples(), tmp_path, progress=False, batch_size=4)
    assert counselor.batches == [4, 4, 1]
    records = read_predictions(tmp_path / "predictions.jsonl")
    assert records[0].probs is not None and records[0].probs[O] == pytest.approx(0.65)
    # Always Others: it beats every other gold strategy and never loses.
    assert report.metrics.preference_bias is None
    assert report.metrics.per_strategy[O].recall == 1.0


def test_crash_keeps_whole_records_and_resume_finishes(tmp_path: Path) -> None:
    examples = _examples()
    with pytest.raises(RuntimeError, match="crashed"):
        evaluate_counselor(
            EchoCounselor(fail_after=4), examples, tmp_path, progress=False, batch_size=2
        )
    kept = read_predictions(tmp_path / "predictions.jsonl")
    assert len(kept) == 4  # two whole batches, nothing torn
    # A torn tail (a crash mid-write) is tolerated and rewritten.
    with (tmp_path / "predictions.jsonl").open("a") as fh:
        fh.write('{"dialogue_id": "d1", "turn')
    counselor = EchoCounselor()
    report = evaluate_counselor(counselor, examples, tmp_path, progress=False, resume=True)
    assert counselor.calls == len(examples) - 4
    assert len(read_predictions(tmp_path / "predictions.jsonl")) == len(examples)
    fresh = evaluate_counselor(EchoCounselor(), examples, None, progress=False)
    assert report.metrics.accuracy == fresh.metrics.accuracy
    assert report.metrics.macro_f1 == fresh.metrics.macro_f1


def test_resume_with_other_data_is_a_clear_error(tmp_path: Path) -> None:
    examples = _examples()
    evaluate_counselor(EchoCounselor(), examples, tmp_path, progress=False, plots=False)
    changed = [
        StrategyExample(e.dialogue_id, e.turn_index, e.context, R if e.gold is Q else e.gold)
        for e in examples
    ]
    with pytest.raises(UserError, match="predictions are from other data"):
        evaluate_counselor(EchoCounselor(), changed, tmp_path, progress=False, resume=True)
    with pytest.raises(UserError, match="no examples"):
        evaluate_counselor(EchoCounselor(), [], tmp_path, progress=False)


def test_evaluate_on_esconv_test_dialogues(esconv_dir: Path, tmp_path: Path) -> None:
    examples = load_strategy_examples(esconv_dir / "test.json", limit=3)
    report = evaluate_counselor(EchoCounselor(), examples, tmp_path, progress=False)
    records = (tmp_path / "predictions.jsonl").read_text().splitlines()
    assert report.metrics.n == len(records) == len(examples) > 10
    assert {json.loads(r)["dialogue_id"] for r in records} == {e.dialogue_id for e in examples}


# --- the GPU benchmark's stand-alone copy of the classifier input ----------------------


def _gpu_script():  # type: ignore[no-untyped-def]
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "counselor_gpu.py"
    spec = importlib.util.spec_from_file_location("counselor_gpu", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("variant", ["default", "window12", "all-history", "no-strategies",
                                     "no-emotion-problem"])  # fmt: skip
def test_gpu_benchmark_builds_the_classifier_counselors_input(
    esconv_dir: Path, variant: str
) -> None:
    # The GPU machine lacks pydantic, so benchmarks/counselor_gpu.py re-implements the
    # classifier's input text; it must stay identical to ClassifierInput + classifier_text.
    from sweetiechat.agents.classifier import ClassifierInput, classifier_text

    gpu = _gpu_script()
    fmt = {**gpu.BASE_VARIANT, **gpu.VARIANTS[variant]}
    theirs = gpu.examples(esconv_dir / "test.json", fmt, 4)
    ours = load_strategy_examples(esconv_dir / "test.json", limit=4)
    settings = ClassifierInput(**{k: v for k, v in fmt.items() if k != "class_weights"})
    assert len(theirs) == len(ours)
    for row, example in zip(theirs, ours, strict=True):
        assert (row["dialogue_id"], row["turn_index"]) == (example.dialogue_id, example.turn_index)
        assert (row["header"], row["history"]) == classifier_text(example.context, settings)
        assert list(Strategy)[row["label"]] == example.gold


def test_gpu_benchmark_scores_match_the_library() -> None:
    gpu = _gpu_script()
    rng = np.random.default_rng(1)
    gold = rng.integers(0, 8, 300).tolist()
    pred = [g if rng.random() < 0.4 else int(rng.integers(0, 8)) for g in gold]
    theirs = gpu.scores(gold, pred)
    ours = score_predictions(
        [list(Strategy)[g] for g in gold], [list(Strategy)[p] for p in pred], counselor="x"
    )
    assert theirs["macro_f1"] == pytest.approx(ours.macro_f1)
    assert theirs["weighted_f1"] == pytest.approx(ours.weighted_f1)
    assert theirs["accuracy"] == pytest.approx(ours.accuracy)
    assert theirs["preference_bias"] == pytest.approx(ours.preference_bias)
