"""The strategy-selection dataset: one example per supporter turn, no gold-response leakage."""

from __future__ import annotations

import json

import pytest

from helpers import fake
from sweetiechat.agents.counselor import PromptedCounselor
from sweetiechat.errors import UserError
from sweetiechat.io import DataError, read_dialogues
from sweetiechat.taxonomy import Strategy
from sweetiechat.trainer.dataset import (
    load_splits,
    load_strategy_examples,
    strategy_examples,
)
from sweetiechat.types import Turn


def test_one_example_per_supporter_turn_with_the_history_before_it(esconv_small):
    dialogues = list(read_dialogues(esconv_small))
    examples = strategy_examples(dialogues)
    supporter_turns = sum(t.role == "supporter" for d in dialogues for t in d.turns)
    assert len(examples) == supporter_turns == 14
    first = examples[0]
    full = dialogues[0]
    assert first.dialogue_id == full.id
    assert full.turns[first.turn_index].role == "supporter"
    assert first.context.turns == full.turns[: first.turn_index]
    assert first.gold is full.turns[first.turn_index].strategy
    assert first.context.problem_type == full.problem_type
    assert first.context.meta.emotion_type == "anxiety"
    for ex in examples:
        gold_text = next(d for d in dialogues if d.id == ex.dialogue_id).turns[ex.turn_index].text
        assert all(t.text != gold_text for t in ex.context.turns[-1:])
        assert len(ex.context.turns) == ex.turn_index


def test_changing_a_gold_response_leaves_that_turns_input_and_prediction_unchanged(
    esconv_small,
):
    dialogue = next(iter(read_dialogues(esconv_small)))
    k = 3  # a supporter turn in the middle
    assert dialogue.turns[k].role == "supporter"
    turns = list(dialogue.turns)
    turns[k] = Turn(role="supporter", text="COMPLETELY DIFFERENT GOLD TEXT", strategy="Others")
    changed = dialogue.model_copy(update={"turns": turns})

    def run(d):
        backend = fake("Question", "Reflection of feelings", "Others")
        counselor = PromptedCounselor(backend)
        ex = next(e for e in strategy_examples([d]) if e.turn_index == k)
        choice = counselor.select(ex.context)
        return ex, backend.calls[0], choice.strategy

    before, messages_before, pred_before = run(dialogue)
    after, messages_after, pred_after = run(changed)
    assert before.context == after.context
    assert messages_before == messages_after
    assert "COMPLETELY DIFFERENT" not in json.dumps(messages_after)
    assert pred_before == pred_after
    assert before.gold is Strategy.QUESTION and after.gold is Strategy.OTHERS
    # a later turn sees the changed response in its history
    later = [e for e in strategy_examples([changed]) if e.turn_index > k]
    assert any("COMPLETELY DIFFERENT" in t.text for t in later[0].context.turns)


def test_limit_takes_the_first_dialogues(esconv_small, esconv_original):
    assert {e.dialogue_id for e in load_strategy_examples(esconv_small, limit=1)} == {
        "esconv-esconv_small-0000"
    }
    assert len(load_strategy_examples(esconv_original)) == 14


def test_load_splits_reads_train_valid_test(tmp_path, esconv_small):
    for split in ("train", "valid"):
        (tmp_path / f"{split}.json").write_text(esconv_small.read_text())
    (tmp_path / "test.jsonl").write_text(esconv_small.read_text())
    splits = load_splits(tmp_path, limit=2)
    assert {k: len(v) for k, v in splits.items()} == {"train": 10, "valid": 10, "test": 10}
    (tmp_path / "valid.json").unlink()
    with pytest.raises(UserError, match=r"no valid\.json or valid\.jsonl"):
        load_splits(tmp_path)


def test_a_dataset_without_supporter_turns_is_a_clear_error(tmp_path):
    path = tmp_path / "seekers.jsonl"
    record = {
        "id": "a",
        "problem_type": "Burnout",
        "turns": [{"role": "seeker", "text": "I am so tired."}],
    }
    path.write_text(json.dumps(record) + "\n")
    with pytest.raises(UserError, match=r"seekers\.jsonl: no supporter turn with a strategy"):
        load_strategy_examples(path)


def test_an_unknown_strategy_label_names_the_file_and_line(tmp_path, esconv_small):
    lines = esconv_small.read_text().splitlines()
    lines[1] = lines[1].replace('"strategy": "Question"', '"strategy": "Hugging"', 1)
    path = tmp_path / "bad.json"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"bad\.json:2: .*unknown strategy 'Hugging'"):
        load_strategy_examples(path)
