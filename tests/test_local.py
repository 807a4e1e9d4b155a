"""The embedded SmolLM2 model and the likelihood counselor (real weights, CPU)."""

import asyncio
import os
import subprocess
import sys

import pytest

from sweetiechat.backends import local
from sweetiechat.taxonomy import Strategy
from sweetiechat.types import Dialogue, Turn

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    """Convert the GGUF file into a fresh cache folder, as a first-time user would."""
    cache = tmp_path_factory.mktemp("cache")
    old = os.environ.get("SWEETIECHAT_CACHE")
    os.environ["SWEETIECHAT_CACHE"] = str(cache)
    try:
        folder = local.embedded_model_dir()
        yield folder
    finally:
        if old is None:
            os.environ.pop("SWEETIECHAT_CACHE", None)
        else:
            os.environ["SWEETIECHAT_CACHE"] = old


def test_gguf_is_converted_once_into_the_cache(embedded):
    assert (embedded / "config.json").is_file() and (embedded / "model.safetensors").is_file()
    assert local.embedded_model_dir() == embedded  # second call: no conversion
    lm = local.load_causal_lm()
    assert type(lm.model).__name__ == "LlamaForCausalLM"
    assert lm.tokenizer.chat_template


PROMPTS = ["Say hello.", "My dog died last week and I feel empty.", "Name a colour."]


def test_concurrent_calls_share_one_batch_and_match_single_calls(embedded, monkeypatch):
    from sweetiechat.backends import batching

    rows = []
    real = batching.Batcher.step

    def spy(self):
        rows.append(len(self.rows) + len(self.waiting))
        return real(self)

    monkeypatch.setattr(batching.Batcher, "step", spy)
    model = local.LocalChatModel(max_new_tokens=8, temperature=0)

    async def together():
        return await asyncio.gather(*(model.ainvoke(p) for p in PROMPTS))

    replies = asyncio.run(together())
    assert max(rows) == 3  # all three decoded in the same steps
    alone = [model.invoke(p) for p in PROMPTS]  # the sync path: a batch of one each
    # Greedy decoding gives the same text batched (left-padded) and alone.
    assert [r.content for r in replies] == [a.content for a in alone]
    assert all(r.content for r in replies)
    assert all(0 < r.usage_metadata["output_tokens"] <= 8 for r in replies)
    assert replies[0].response_metadata["model_name"] == "smollm2-135m-instruct"


def test_a_request_joining_mid_batch_decodes_as_if_alone(embedded):
    from sweetiechat.backends.batching import Batcher, GenRequest, Sampling

    lm = local.load_causal_lm()
    tok = lm.tokenizer

    def request(text, max_new=10):
        chat = [{"role": "user", "content": text}]
        prompt = tok.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
        ids = tok(prompt, add_special_tokens=False)["input_ids"]
        return GenRequest(ids, max_new, Sampling(0.0, 1.0, 1.15), local.STOP_STRINGS)

    alone = []
    for text in PROMPTS[:2]:
        r = request(text)
        Batcher(lm).run([r])
        alone.append(r.text)
    batcher = Batcher(lm)
    first, second = request(PROMPTS[0]), request(PROMPTS[1])
    batcher.submit(first)
    for _ in range(3):
        batcher.step()
    batcher.submit(second)  # joins a batch whose cache is 4 tokens ahead
    short = request(PROMPTS[2], max_new=2)
    batcher.submit(short)
    while batcher.busy:
        batcher.step()
    assert [first.text, second.text] == alone
    assert len(short.generated) == 2 and short.done  # its limit, then it left the batch
    assert batcher.rows == [] and batcher.mask is None


def test_stop_strings_and_token_limits(embedded):
    model = local.LocalChatModel(max_new_tokens=12, temperature=0)
    cut = model.invoke("Write two sentences about the sea.", stop=[" "])
    assert cut.content and " " not in cut.content  # cut before the first space
    short = model.invoke("Write two sentences about the sea.", max_tokens=3)
    assert short.usage_metadata["output_tokens"] <= 3
    sampled = local.LocalChatModel(max_new_tokens=6, temperature=0.7).invoke("Hi")
    assert 0 < sampled.usage_metadata["output_tokens"] <= 6


def test_a_cancelled_call_leaves_the_batch(embedded):
    model = local.LocalChatModel(max_new_tokens=60, temperature=0)

    async def cancel_one():
        loop = asyncio.get_running_loop()
        slow = asyncio.ensure_future(model.ainvoke("Tell me a long story about a dragon."))
        while not any(e.loop is loop and e.batcher.rows for e in local._ENGINES.values()):
            await asyncio.sleep(0.01)
        engine = next(e for e in local._ENGINES.values() if e.loop is loop)
        fast = asyncio.ensure_future(model.ainvoke("Say hi.", max_tokens=4))
        slow.cancel()
        reply = await fast
        while engine.batcher.busy:
            await asyncio.sleep(0.01)
        return reply, slow, engine.batcher.steps

    reply, slow, steps = asyncio.run(cancel_one())
    assert reply.content and slow.cancelled()
    assert steps < 30  # the cancelled call did not decode on to its 60 tokens


def test_likelihood_counselor_scores_all_eight_in_one_batched_pass(embedded):
    import torch

    from sweetiechat.agents.likelihood import LikelihoodCounselor

    counselor = LikelihoodCounselor()
    lm = local.load_causal_lm()
    batches = []
    hook = lm.model.register_forward_hook(
        lambda m, a, kw, out: batches.append(kw["input_ids"].shape), with_kwargs=True
    )
    d = Dialogue(
        id="x",
        problem_type="Job Crisis",
        turns=[Turn(role="seeker", text="I lost my job today and I don't know what to do.")],
    )
    try:
        choice = counselor.select(d)
    finally:
        hook.remove()
    names = [lm.tokenizer(s.value, add_special_tokens=False)["input_ids"] for s in Strategy]
    # The shared prompt, then all 8 names packed into one row.
    assert [tuple(s) for s in batches][1:] == [(1, sum(len(ids) for ids in names))]
    assert choice.probabilities is not None
    assert sum(choice.probabilities.values()) == pytest.approx(1.0)
    assert choice.strategy is max(choice.probabilities, key=choice.probabilities.get)
    # The batched scores equal scoring one name at a time over the full sequence.
    scores = counselor.log_likelihoods(d)
    tok = lm.tokenizer
    chat = [{"role": r, "content": c} for r, c in counselor.render(counselor.prompt, d)]
    prefix = tok(
        tok.apply_chat_template(chat, add_generation_prompt=True, tokenize=False),
        add_special_tokens=False,
    )["input_ids"]
    ids = tok(Strategy.REFLECTION.value, add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        logprobs = torch.log_softmax(lm.model(input_ids=torch.tensor([prefix + ids])).logits[0], -1)
    naive = sum(logprobs[len(prefix) - 1 + j, t].item() for j, t in enumerate(ids))
    assert scores[Strategy.REFLECTION] == pytest.approx(naive, abs=1e-3)


def test_sampling_counselor_is_repeatable(embedded):
    from sweetiechat.agents.likelihood import LikelihoodCounselor

    counselor = LikelihoodCounselor(temperature=1.0)
    d = Dialogue(id="y", problem_type="Burnout", turns=[Turn(role="seeker", text="I'm so tired.")])
    assert counselor.select(d).strategy is counselor.select(d).strategy


def test_generate_runs_fully_offline_on_the_embedded_model(embedded, tmp_path):
    out = tmp_path / "offline.jsonl"
    env = {
        **os.environ,
        "SWEETIECHAT_CACHE": str(embedded.parents[1]),
        "HF_HUB_OFFLINE": "1",
        "OPENAI_API_KEY": "",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sweetiechat",
            "generate",
            "-n",
            "2",
            "-o",
            str(out),
            "--max-turns",
            "2",
            "--min-turns",
            "1",
            "--concurrency",
            "2",
            "--show",
            "1",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    from sweetiechat.io import read_dialogues

    dialogues = list(read_dialogues(out))
    assert len(dialogues) == 2
    for d in dialogues:
        assert d.alternates and d.turns[0].role == "seeker"
        assert all(t.strategy for t in d.turns if t.role == "supporter")
        assert d.meta.models["seeker"] == "smollm2-135m-instruct"
        assert d.meta.models["counselor"].startswith("likelihood:")
    assert "Generation summary" in result.stdout
