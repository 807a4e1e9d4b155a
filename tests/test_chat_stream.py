"""Token streaming of the local backend (LocalChatModel.stream/astream/astream_prompt)."""

from __future__ import annotations

import asyncio
from typing import ClassVar

import pytest

from sweetiechat.backends.local import LocalChatModel, TextDeltas


class PieceTokenizer:
    """Token i decodes to PIECES[i]: enough to test the delta logic without a model."""

    PIECES: ClassVar[list[str]] = [
        "Hello",
        " there",
        "\n",
        "\n",
        "Seeker",
        ":",
        " caf",
        "\ufffd",
        "é",
    ]

    def decode(self, ids, skip_special_tokens=True):
        text = "".join(self.PIECES[i] for i in ids)
        return text.replace("\ufffdé", "é")  # two tokens make one character


def test_text_deltas_hold_back_what_may_still_change():
    deltas = TextDeltas(PieceTokenizer(), stop=["\n\n", "\nSeeker:"])
    assert deltas.update([0]) == "Hello"
    assert deltas.update([0, 1]) == " there"
    assert deltas.update([0, 1, 2]) == ""  # "\n" may start a stop string
    assert deltas.update([0, 1, 2, 3]) == ""  # it did: cut there
    assert deltas.finish("Hello there") == ""
    other = TextDeltas(PieceTokenizer())
    assert other.update([6]) == "caf"
    assert other.update([6, 7]) == ""  # half a character
    assert other.update([6, 7, 8]) == "é"


@pytest.fixture(scope="module")
def model():
    return LocalChatModel(max_new_tokens=10, temperature=0)


@pytest.mark.slow
def test_stream_yields_pieces_that_add_up_to_the_reply(model):
    pieces = [c.content for c in model.stream("I can't sleep before exams.")]
    text = "".join(pieces)
    assert len([p for p in pieces if p]) >= 3
    assert text == model.invoke("I can't sleep before exams.").content


@pytest.mark.slow
def test_astream_shares_the_batch_and_matches_ainvoke(model):
    async def run():
        async def streamed(prompt):
            chunks = [c async for c in model.astream(prompt)]
            return chunks

        a, b = await asyncio.gather(streamed("I feel alone."), streamed("Work is too much."))
        whole = await model.ainvoke("I feel alone.")
        prompt = model._lm().tokenizer.apply_chat_template(
            [{"role": "user", "content": "I feel alone."}],
            add_generation_prompt=True,
            tokenize=False,
        )
        raw = [p async for p in model.astream_prompt(prompt)]
        return a, b, whole, raw

    a, b, whole, raw = asyncio.run(run())
    assert len([c for c in a if c.content]) >= 3 and len([c for c in b if c.content]) >= 3
    assert "".join(c.content for c in a) == whole.content
    assert "".join(raw) == whole.content
    assert sum(c.usage_metadata["output_tokens"] for c in a if c.usage_metadata) > 0


@pytest.mark.slow
def test_an_abandoned_stream_leaves_the_batch(model):
    async def run():
        stream = model.astream("Tell me a long story about the sea.", max_tokens=60)
        first = await stream.__anext__()
        await stream.aclose()  # the person pressed Ctrl-C
        return first, await model.ainvoke("Hi.")

    first, after = asyncio.run(run())
    assert first.content and isinstance(after.content, str)


@pytest.mark.slow
def test_a_fine_tuned_adapter_is_prompted_in_its_training_format(tmp_path):
    """open_chat with --adapter: the prompt is agent_prompt's, with the counselor's tag."""
    import json

    from peft import LoraConfig, get_peft_model
    from tiny_models import llama_dir
    from transformers import AutoModelForCausalLM

    from sweetiechat.agents import StrategyChoice
    from sweetiechat.agents.trained import base_fingerprint
    from sweetiechat.chat import open_chat
    from sweetiechat.errors import UserError
    from sweetiechat.taxonomy import Strategy

    base = str(llama_dir())
    adapter = tmp_path / "agent"
    lora = LoraConfig(r=2, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    get_peft_model(AutoModelForCausalLM.from_pretrained(base), lora).save_pretrained(adapter)
    info = {
        "base_model": base,
        "base_fingerprint": base_fingerprint(base),
        "with_strategy": True,
        "system_prompt": "You are a kind listener.",
    }
    (adapter / "sweetiechat_agent.json").write_text(json.dumps(info))

    class Reflect:
        async def aselect(self, dialogue):
            return StrategyChoice(Strategy.REFLECTION)

    chat = open_chat(base, adapter=adapter, counselor=Reflect(), max_new_tokens=4)
    prompts = []
    original = chat.model.astream_prompt

    def spy(prompt, *args, **kwargs):
        prompts.append(prompt)
        return original(prompt, *args, **kwargs)

    object.__setattr__(chat.model, "astream_prompt", spy)

    async def talk():
        return [p async for p in chat.send("I feel alone.")]

    asyncio.run(talk())
    assert prompts[0].startswith("<|im_start|>system\nYou are a kind listener.")
    assert prompts[0].endswith("<|im_start|>assistant\n[Reflection of feelings] ")
    assert chat.dialogue.turns[-1].strategy is Strategy.REFLECTION
    assert chat.dialogue.meta.models["supporter"].endswith("+agent")

    (adapter / "sweetiechat_agent.json").write_text(json.dumps({**info, "role": "seeker"}))
    with pytest.raises(UserError, match="a seeker agent, not a supporter"):
        open_chat(base, adapter=adapter)
    with pytest.raises(UserError, match="no such adapter folder"):
        open_chat(base, adapter=tmp_path / "missing")
