"""``sweetiechat agent train``: the chat format, the loss mask, history cuts, training a tiny
Llama into an adapter folder that reloads, resume, and bad input (one-line errors)."""

from __future__ import annotations

import json

import pytest
from tiny_models import FIXTURE, llama_dir

from helpers import one_line_error
from sweetiechat.agents.tuned import (
    AgentInfo,
    agent_messages,
    agent_prompt,
    check_base,
    parse_reply,
    read_agent_info,
)
from sweetiechat.errors import UserError
from sweetiechat.io import read_dialogues
from sweetiechat.taxonomy import Strategy
from sweetiechat.trainer.agent_config import AgentTrainConfig
from sweetiechat.trainer.agent_data import (
    EncodeStats,
    encode_dialogue,
    encode_dialogues,
    with_labels,
)
from sweetiechat.types import Dialogue, Turn


@pytest.fixture(scope="module")
def dialogues() -> list[Dialogue]:
    return list(read_dialogues(FIXTURE))


@pytest.fixture(scope="module")
def tok():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(llama_dir())


def test_messages_put_seekers_as_user_and_supporters_as_assistant(dialogues):
    d = dialogues[0]
    messages = agent_messages(d, 4, with_strategy=True)
    assert messages[0]["role"] == "system" and len(messages) == 5
    for m, turn in zip(messages[1:], d.turns[:4], strict=True):
        assert m["role"] == ("assistant" if turn.role == "supporter" else "user")
        if turn.role == "supporter":
            assert m["content"] == f"[{turn.strategy.value}] {turn.text.strip()}"
    reversed_ = agent_messages(d, 4, role="seeker")
    assert [m["role"] for m in reversed_[1:]] == [
        "assistant" if t.role == "seeker" else "user" for t in d.turns[:4]
    ]
    assert d.problem_type.value in reversed_[0]["content"]  # the seeker knows its problem


def test_prompt_ends_with_the_generation_prompt_and_a_given_strategy(tok, dialogues):
    text = agent_prompt(tok, dialogues[0], 2, with_strategy=True, strategy=Strategy.QUESTION)
    assert text.endswith("<|im_start|>assistant\n[Question] ")
    assert parse_reply("[Question] How long has it been?") == (
        Strategy.QUESTION,
        "How long has it been?",
    )
    assert parse_reply("[Nonsense] hi") == (None, "[Nonsense] hi")


def test_no_system_or_seeker_token_carries_loss(tok, dialogues):
    for role in ("supporter", "seeker"):
        for d in dialogues:
            examples = encode_dialogue(tok, d, max_length=4096, role=role, with_strategy=True)
            assert len(examples) == 1  # short dialogues: one example each, nothing cut
            ids, mask = examples[0]["input_ids"], examples[0]["completion_mask"]
            trained = tok.decode([i for i, m in zip(ids, mask, strict=True) if m])
            mine = [t for t in d.turns if t.role == role]
            expected = "".join(
                (f"[{t.strategy.value}] " if t.strategy and role == "supporter" else "")
                + t.text.strip()
                + "<|im_end|>\n"
                for t in mine
            )
            assert trained == expected  # exactly the agent's words and end tokens
            untrained = tok.decode([i for i, m in zip(ids, mask, strict=True) if not m])
            other = "seeker" if role == "supporter" else "supporter"
            last = max(i for i, t in enumerate(d.turns) if t.role == role)
            for t in d.turns[:last]:  # the other side's turns, as context only
                if t.role == other:
                    assert t.text.strip() in untrained


def test_the_trainer_sees_the_mask_as_labels(tok, dialogues):
    """The collator pads the labels (-100 wherever the mask is 0) and keeps them as given."""
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    examples, _ = encode_dialogues(tok, dialogues, max_length=160)
    collator = DataCollatorForLanguageModeling(pad_token_id=tok.pad_token_id)
    batch = collator([with_labels(e) for e in examples[:2]])
    for row, ex in enumerate(examples[:2]):
        labels = batch["labels"][row].tolist()
        n = len(ex["input_ids"])
        assert [lab != -100 for lab in labels[:n]] == [bool(m) for m in ex["completion_mask"]]
        assert all(lab == -100 for lab in labels[n:])  # padding carries no loss


def test_long_history_is_cut_from_the_left_and_counted(tok, dialogues):
    stats = EncodeStats()
    examples = []
    for d in dialogues:
        examples += encode_dialogue(tok, d, max_length=160, stats=stats)
    assert all(len(e["input_ids"]) <= 160 for e in examples)
    supporter_turns = sum(t.role == "supporter" for d in dialogues for t in d.turns)
    assert stats.targets == supporter_turns  # every supporter turn trained exactly once
    assert stats.examples == len(examples) > len(dialogues)
    assert stats.cut_examples > 0 and stats.cut_turns >= stats.cut_examples
    full = encode_dialogues(tok, dialogues, max_length=4096)[1]
    assert full.cut_examples == 0 and full.examples == len(dialogues)
    # an example that was cut still starts with the system prompt
    system = tok(tok.apply_chat_template(agent_messages(dialogues[0])[:1], tokenize=False))
    assert examples[-1]["input_ids"][: len(system["input_ids"])] == system["input_ids"]


def test_a_target_longer_than_the_window_is_cut_on_the_right(tok):
    long = Dialogue(
        id="long",
        problem_type="job crisis",
        turns=[
            Turn(role="seeker", text="I lost my job."),
            Turn(role="supporter", text="I am so sorry to hear that. " * 40, strategy="Others"),
        ],
    )
    system = tok.apply_chat_template(agent_messages(long)[:1], tokenize=False)
    window = len(tok(system)["input_ids"]) + 40
    stats = EncodeStats()
    (example,) = encode_dialogue(tok, long, max_length=window, stats=stats)
    assert len(example["input_ids"]) == window and stats.truncated_targets == 1
    assert sum(example["completion_mask"]) > 0
    with pytest.raises(UserError, match="raise --max-length"):
        encode_dialogue(tok, long, max_length=window - 40)


def test_config_defaults_are_the_papers_recipe():
    c = AgentTrainConfig(data=["x.jsonl"], out_dir="o")
    assert (c.lora_r, c.learning_rate, c.warmup_ratio, c.batch_size, c.epochs) == (
        8,
        3e-5,
        0.01,
        2,
        5.0,
    )
    assert c.patience == 7 and c.lora_target_modules == ("q_proj", "k_proj", "v_proj", "o_proj")


@pytest.mark.slow
def test_train_then_reload_the_adapter_and_resume(cli, tmp_path, tok, dialogues):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = tmp_path / "agent"
    args = [
        "agent", "train", "--data", str(FIXTURE), "--valid", str(FIXTURE),
        "--base-model", str(llama_dir()), "--out", str(out), "--max-length", "128",
        "--eval-steps", "3", "--lr", "1e-2", "--with-strategy", "--quiet",
    ]  # fmt: skip
    code, stdout, err = cli(*args, "--max-steps", "3")
    assert code == 0, err
    assert "Agent training" in stdout and "history cut" in stdout
    adapter = json.loads((out / "adapter_config.json").read_text())
    assert adapter["peft_type"] == "LORA" and adapter["r"] == 8
    assert set(adapter["target_modules"]) == {"q_proj", "k_proj", "v_proj", "o_proj"}
    info = read_agent_info(out)
    assert info.with_strategy and info.max_length == 128 and info.trained_steps == 3
    assert info.base_fingerprint["num_hidden_layers"] == 2
    metrics = json.loads((out / "metrics.json").read_text())["train"]
    assert metrics["encoding"]["train"]["cut_examples"] > 0
    assert metrics["tokens_per_second"] > 0 and metrics["best_eval_loss"] is not None

    # a second fresh run into the same folder is refused; --resume continues it
    code, _, err = cli(*args, "--max-steps", "6")
    one_line_error(code, err, "already holds a trained agent; pass --resume")
    code, _, err = cli(*args, "--max-steps", "6", "--resume")
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())["train"]
    assert metrics["steps"] == 6 and metrics["steps_this_run"] == 3
    assert metrics["resumed_from"].endswith("checkpoint-3")

    # the adapter reloads on the base and lowers the loss on the supporter's words
    examples, _ = encode_dialogues(tok, dialogues, max_length=128, with_strategy=True)

    def loss(model) -> float:
        total = 0.0
        for ex in examples:
            ids = torch.tensor([ex["input_ids"]])
            labels = ids.clone()
            labels[0, torch.tensor(ex["completion_mask"]) == 0] = -100
            with torch.no_grad():
                total += float(model(input_ids=ids, labels=labels).loss)
        return total / len(examples)

    base = AutoModelForCausalLM.from_pretrained(llama_dir())
    before = loss(base)
    tuned = PeftModel.from_pretrained(base, str(out))
    assert loss(tuned) < before - 0.05


@pytest.mark.slow
def test_three_seeds_train_into_their_own_folders(cli, tmp_path):
    out = tmp_path / "seeds"
    code, _, err = cli(
        "agent", "train", "--data", str(FIXTURE), "--base-model", str(llama_dir()),
        "--out", str(out), "--max-length", "160", "--max-steps", "1", "--seeds", "3",
        "--seed", "5", "--valid-limit", "1", "--quiet",
    )  # fmt: skip
    assert code == 0, err
    assert [read_agent_info(out / f"seed-{s}").seed for s in (5, 6, 7)] == [5, 6, 7]
    summary = json.loads((out / "seeds.json").read_text())
    assert len(summary["folders"]) == 3


def test_bad_input_is_one_line(cli, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    code, _, err = cli("agent", "train", "--data", str(empty), "--out", str(tmp_path / "o"))
    one_line_error(code, err, str(empty))

    seekers = tmp_path / "seekers.jsonl"
    d = Dialogue(id="s", problem_type="job crisis", turns=[Turn(role="seeker", text="Hi.")])
    seekers.write_text(d.model_dump_json() + "\n")
    code, _, err = cli(
        "agent", "train", "--data", str(seekers), "--base-model", str(llama_dir()),
        "--out", str(tmp_path / "o"),
    )  # fmt: skip
    one_line_error(code, err, "no supporter turns to train on")

    code, _, err = cli("agent", "train", "--out", str(tmp_path / "o"))
    one_line_error(code, err, "--data is required")
    code, _, err = cli(
        "agent", "train", "--data", str(FIXTURE), "--out", str(tmp_path / "o"),
        "--base-model", str(tmp_path / "nowhere"),
    )  # fmt: skip
    one_line_error(code, err, "no such folder")
    code, _, err = cli(
        "agent", "train", "--data", str(FIXTURE), "--out", str(tmp_path / "o"), "--resume",
        "--base-model", str(llama_dir()),
    )  # fmt: skip
    one_line_error(code, err, "no checkpoint to resume from")


def test_an_adapter_for_another_base_model_is_refused(tmp_path):
    from tiny_models import corpus, tiny_llama

    other = tiny_llama(tmp_path / "other", corpus(FIXTURE), layers=3)
    info = AgentInfo(
        base_model=str(llama_dir()),
        base_fingerprint={"model_type": "llama", "vocab_size": 1, "hidden_size": 32,
                          "num_hidden_layers": 2},
    )  # fmt: skip
    from sweetiechat.agents.trained import base_fingerprint

    info = info.model_copy(update={"base_fingerprint": base_fingerprint(str(llama_dir()))})
    check_base(info, str(llama_dir()))  # its own base passes
    with pytest.raises(UserError, match=r"trained on base model .* not on .*num_hidden_layers=3"):
        check_base(info, str(other), "runs/agent")
    (tmp_path / "adapter").mkdir()
    with pytest.raises(UserError, match="not a fine-tuned agent"):
        read_agent_info(tmp_path / "adapter")
    (tmp_path / "adapter" / "sweetiechat_agent.json").write_text("{")
    with pytest.raises(UserError, match="not valid JSON"):
        read_agent_info(tmp_path / "adapter")
