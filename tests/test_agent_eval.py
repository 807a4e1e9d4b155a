"""``sweetiechat agent eval``: both context modes on a tiny local Llama and against the test
server, the generations file, the metrics table, resuming, and one-line errors on bad input."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from tiny_models import FIXTURE, llama_dir

from helpers import fake, one_line_error
from sweetiechat.agents.tuned import AGENT_FILE, AgentInfo
from sweetiechat.eval.agent import MODES, build_chains, read_generations, supporter_targets
from sweetiechat.eval.agent_gen import Sampling, agenerate_api
from sweetiechat.eval.agent_score import COLUMNS
from sweetiechat.io import read_dialogues
from sweetiechat.testing import ChatRequest, OpenAITestServer

DIALOGUES = list(read_dialogues(FIXTURE))
TARGETS = {f"{d.id}:{t}" for d in DIALOGUES for t in supporter_targets(d)}
RECORD_KEYS = {
    "id", "dialogue_id", "turn", "mode", "seed", "system", "context", "reference", "response",
    "strategy",
}  # fmt: skip
FAST = ("--metrics", "bleu,rouge,distinct", "--quiet")

pytestmark = pytest.mark.slow


class Numbered:
    """A server script: reply ``R<n> ...`` (n counts requests) and keep every request."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[list[dict[str, str]]] = []

    def __call__(self, request: ChatRequest) -> str:
        with self.lock:
            self.requests.append([dict(m) for m in request.messages])
            return f"R{len(self.requests)} that sounds hard, tell me more."


def test_fixture_has_supporter_turns_to_answer():
    assert len(TARGETS) == 14  # every supporter turn after the first seeker turn


def test_both_modes_on_a_tiny_local_llama(cli, tmp_path):
    out = tmp_path / "ev"
    code, stdout, err = cli(
        "agent", "eval", "--data", str(FIXTURE), "--model", str(llama_dir()),
        "--max-new-tokens", "6", "--out", str(out), "--seeds", "0,1", *FAST,
    )  # fmt: skip
    assert code == 0, err
    records = [json.loads(line) for line in (out / "generations.jsonl").read_text().splitlines()]
    assert all(set(r) == RECORD_KEYS for r in records)
    assert len(records) == 14 * 2 * 2  # turns x modes x seeds
    for mode in MODES:
        for seed in (0, 1):
            ids = {r["id"] for r in records if r["mode"] == mode and r["seed"] == seed}
            assert ids == TARGETS
    first = next(r for r in records if r["turn"] == 3 and r["mode"] == "reference")
    dialogue = next(d for d in DIALOGUES if d.id == first["dialogue_id"])
    assert first["reference"] == dialogue.turns[3].text
    assert [c["text"] for c in first["context"]] == [t.text for t in dialogue.turns[:3]]
    assert first["system"].startswith("You are a warm")
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["summary"]) == {"reference", "generated"}
    bleu = metrics["summary"]["generated"]["bleu2"]
    assert bleu["n"] == 2 and bleu["std"] is not None  # two sampling seeds: mean ± std
    assert all(r["generation"]["responses"] == 28 for r in metrics["runs"])  # both modes
    assert all(r["generation"]["responses_per_s"] > 0 for r in metrics["runs"])
    assert "BLEU-2" in stdout and "METEOR" in stdout and "paper" in stdout
    assert "28 responses" in stdout and (out / "metrics.png").is_file()


def test_generated_context_feeds_the_models_own_responses_back(cli, tmp_path):
    script = Numbered()
    with OpenAITestServer(script) as server:
        code, _, err = cli(
            "agent", "eval", "--data", str(FIXTURE), "--model", "test-model",
            "--backend", "openai", "--base-url", server.base_url, "--api-key-env", "",
            "--out", str(tmp_path / "api"), "--concurrency", "3", "--quiet",
        )  # fmt: skip
    assert code == 0, err
    summary = json.loads((tmp_path / "api" / "metrics.json").read_text())["summary"]
    for mode in MODES:  # every metric of the paper's table, METEOR and BERTScore included
        assert all(summary[mode][key]["mean"] is not None for key in COLUMNS), summary[mode]
    records = list(read_generations(tmp_path / "api" / "generations.jsonl"))
    assert len(records) == 28 and len(script.requests) == 28
    sent = {json.dumps(r[1:], sort_keys=True) for r in script.requests}  # what the server received
    for rec in records:
        dialogue = next(d for d in DIALOGUES if d.id == rec.dialogue_id)
        earlier = {
            r.turn: r.response
            for r in records
            if r.mode == rec.mode and r.dialogue_id == rec.dialogue_id and r.turn < rec.turn
        }
        expected = [
            earlier[i] if rec.mode == "generated" and i in earlier else t.text
            for i, t in enumerate(dialogue.turns[: rec.turn])
        ]
        assert [c.text for c in rec.context] == expected
        messages = [
            {"role": "assistant" if c.role == "supporter" else "user", "content": c.text}
            for c in rec.context
        ]
        assert json.dumps(messages, sort_keys=True) in sent  # the model really saw that history
        if rec.mode == "generated" and earlier:
            assert any(c.text.startswith("R") for c in rec.context)
    assert all(r.response.startswith("R") for r in records)


@pytest.mark.filterwarnings("ignore:.*last line is cut off")
def test_resume_continues_generated_mode_from_the_written_responses(cli, tmp_path):
    out = tmp_path / "api"
    script = Numbered()
    with OpenAITestServer(script) as server:
        args = (
            "agent", "eval", "--data", str(FIXTURE), "--model", "test-model",
            "--base-url", server.base_url, "--api-key-env", "", "--mode", "generated",
            "--out", str(out), *FAST,
        )  # fmt: skip
        assert cli(*args)[0] == 0
        lines = (out / "generations.jsonl").read_text().splitlines(keepends=True)
        kept = lines[:5]
        (out / "generations.jsonl").write_text("".join(kept) + lines[5][:20])  # a torn line
        code, _, err = cli(*args)
        one_line_error(code, err, "already holds an evaluation; pass --resume")
        code, _, err = cli(*args, "--resume")
        assert code == 0, err
    records = list(read_generations(out / "generations.jsonl"))
    assert sorted(r.id for r in records) == sorted(TARGETS)
    by_id = {r.id: r for r in records}
    for rec in records:  # every history holds the responses on file, old or new
        for i, turn in enumerate(rec.context):
            if f"{rec.dialogue_id}:{i}" in by_id:
                assert turn.text == by_id[f"{rec.dialogue_id}:{i}"].response
    assert len(script.requests) == 14 + 9  # all at first, then the 9 missing ones


def test_a_strategy_tag_is_stripped_and_recorded():
    backend = fake("[Question] What happened next?", "no tag at all", "")
    chains = build_chains(DIALOGUES[:1], "generated")
    records = []
    asyncio.run(
        agenerate_api(
            backend, chains, Sampling(), 0, records.append, system="S", with_strategy=True
        )
    )
    assert records[0].response == "What happened next?" and records[0].strategy == "Question"
    assert records[1].response == "no tag at all" and records[1].strategy is None
    # the agent's own tag is in the history it sees next, as it was trained
    assert ("assistant", "[Question] What happened next?") in backend.calls[1]
    # an empty answer is recorded as empty, and the history goes on with a placeholder
    assert records[2].response == "" and ("assistant", "...") in backend.calls[3]


def test_a_local_prompt_is_cut_from_the_left_to_fit():
    from transformers import AutoTokenizer

    from sweetiechat.eval.agent_gen import LocalGenerator

    tok = AutoTokenizer.from_pretrained(llama_dir())
    generator = LocalGenerator(str(llama_dir()), None, False, "System.")
    chain = build_chains(DIALOGUES[:1], "reference")[-1]
    full, cut = generator.prompt_ids(tok, chain, 10_000)
    short, was_cut = generator.prompt_ids(tok, chain, len(full) // 2)
    assert not cut and was_cut and len(short) <= len(full) // 2
    assert tok.decode(short).startswith("<|im_start|>system")  # the system prompt stays


def test_a_local_generated_context_prompt_holds_the_models_own_response():
    from transformers import AutoTokenizer

    from sweetiechat.eval.agent_gen import LocalGenerator

    tok = AutoTokenizer.from_pretrained(llama_dir())
    generator = LocalGenerator(str(llama_dir()), None, False, "System.")
    chain = build_chains(DIALOGUES[:1], "generated")[0]
    own = "I am anxious about my job too."
    human = chain.dialogue.turns[chain.turn].text
    chain.advance(own, None)
    prompt = " ".join(tok.decode(generator.prompt_ids(tok, chain, 10_000)[0]).split())
    assert own in prompt and human not in prompt
    reference = build_chains(DIALOGUES[:1], "reference")[1]
    prompt = " ".join(tok.decode(generator.prompt_ids(tok, reference, 10_000)[0]).split())
    assert human in prompt and own not in prompt


def _adapter(folder, fingerprint):
    folder.mkdir()
    info = AgentInfo(base_model="elsewhere", base_fingerprint=fingerprint)
    (folder / AGENT_FILE).write_text(info.model_dump_json())
    return folder


def test_bad_input_is_one_line(cli, tmp_path):
    base = ("agent", "eval", "--model", str(llama_dir()), "--out", str(tmp_path / "o"))
    code, _, err = cli(*base, "--data", str(tmp_path / "missing.json"))
    one_line_error(code, err, "missing.json")
    empty = tmp_path / "empty.json"
    empty.write_text("")
    one_line_error(*cli(*base, "--data", str(empty))[::2], "empty")
    seekers = tmp_path / "seekers.jsonl"
    seekers.write_text(
        json.dumps(
            {"id": "a", "problem_type": "job crisis", "turns": [{"role": "seeker", "text": "Hi"}]}
        )
        + "\n"
    )
    one_line_error(*cli(*base, "--data", str(seekers))[::2], "no supporter turn")
    data = ("--data", str(FIXTURE))
    one_line_error(*cli(*base, *data, "--limit", "0")[::2], "--limit 0")
    code, _, err = cli(
        "agent", "eval", *data, "--model", str(tmp_path / "nope"), "--out", str(tmp_path / "o")
    )
    one_line_error(code, err, "no such folder")
    one_line_error(*cli(*base, *data, "--adapter", str(tmp_path / "none"))[::2], "no such adapter")
    other = _adapter(tmp_path / "other", {"model_type": "llama", "vocab_size": 7})
    one_line_error(*cli(*base, *data, "--adapter", str(other))[::2], "trained on base model")
    one_line_error(*cli(*base, *data, "--mode", "sideways")[::2], "--mode")
    one_line_error(*cli(*base, *data, "--seeds", "x")[::2], "--seeds")
    assert not (tmp_path / "o" / "generations.jsonl").exists()


def _lora(folder, seed: int, with_strategy: bool):
    """A LoRA adapter on the tiny Llama, saved as a fine-tuned agent (random, untrained)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from sweetiechat.agents.trained import base_fingerprint

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(llama_dir())
    config = LoraConfig(r=2, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(model, config).save_pretrained(folder)
    info = AgentInfo(
        base_model=str(llama_dir()),
        base_fingerprint=base_fingerprint(str(llama_dir())),
        with_strategy=with_strategy,
        system_prompt="Tiny agent prompt about {problem_type}.",
        max_length=256,
        seed=seed,
    )
    (folder / AGENT_FILE).write_text(info.model_dump_json())
    return folder


def test_a_folder_of_adapter_seeds_is_one_run_each(cli, tmp_path):
    seeds = tmp_path / "agent"
    for seed in (3, 4):
        _lora(seeds / f"seed-{seed}", seed, with_strategy=True)
    out = tmp_path / "ev"
    code, _, err = cli(
        "agent", "eval", "--data", str(FIXTURE), "--model", str(llama_dir()),
        "--adapter", str(seeds), "--limit", "1", "--mode", "reference",
        "--max-new-tokens", "4", "--out", str(out), *FAST,
    )  # fmt: skip
    assert code == 0, err
    records = list(read_generations(out / "generations.jsonl"))
    assert {r.seed for r in records} == {3, 4}  # the adapters' training seeds
    assert len(records) == 2 * 6
    assert records[0].system == "Tiny agent prompt about Job Crisis."  # the adapter's own prompt
    # a tagged agent's history carries the human strategy tags, as it was trained
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["summary"]["reference"]["bleu2"]["n"] == 2
    assert {r["label"] for r in metrics["runs"]} == {"seed-3", "seed-4"}
    code, _, err = cli(
        "agent", "eval", "--data", str(FIXTURE), "--model", "embedded", "--adapter",
        str(seeds / "seed-3"), "--out", str(tmp_path / "o2"), *FAST,
    )  # fmt: skip
    one_line_error(code, err, "trained on base model")
