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


def test_concurrent_calls_are_batched(embedded, monkeypatch):
    sizes = []
    real = local._generate_batch

    def spy(lm, batch, **kw):
        sizes.append(len(batch))
        return real(lm, batch, **kw)

    monkeypatch.setattr(local, "_generate_batch", spy)
    model = local.LocalChatModel(max_new_tokens=6, temperature=0)

    async def three():
        return await asyncio.gather(*(model.ainvoke(f"Say hello number {i}.") for i in range(3)))

    replies = asyncio.run(three())
    assert all(r.content for r in replies)
    assert sizes == [3]
    assert replies[0].usage_metadata["output_tokens"] <= 6
    assert replies[0].response_metadata["model_name"] == "smollm2-135m-instruct"
    assert model.invoke("Hi").content  # the sync path too


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
    assert [tuple(s)[0] for s in batches] == [1, 8]  # the shared prompt, then all 8 names
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
