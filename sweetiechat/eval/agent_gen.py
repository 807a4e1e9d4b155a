"""Generate the agent's responses for evaluation: a local model in one continuous batch, or any
chat backend (an API model) with bounded concurrency. Both walk the same :class:`Chain`\\ s,
so every backend is evaluated the same way.

A local model (``"embedded"`` SmolLM2 or a folder, optionally with a LoRA adapter) decodes
every pending response together through :class:`~sweetiechat.backends.batching.Batcher`:
a response joins the batch as soon as its history is known (in generated mode, when the
dialogue's previous response is done) and leaves it when finished. Its prompt is the
training format of :mod:`sweetiechat.agents.tuned`, cut from the left to the model's window.

Torch is imported inside functions (through :mod:`sweetiechat.backends.local`).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sweetiechat.agents.tuned import agent_messages, agent_prompt, parse_reply, system_for
from sweetiechat.backends.base import ChatBackend, Completion, EmptyCompletionError, Message
from sweetiechat.eval.agent import Chain, GenerationRecord

__all__ = ["GenStats", "LocalGenerator", "Sampling", "agenerate_api", "generate_local"]

OnRecord = Callable[[GenerationRecord], None]


@dataclass(frozen=True)
class Sampling:
    """How responses are decoded."""

    temperature: float = 0.5
    """0 or less: greedy."""
    top_p: float = 0.9
    repetition_penalty: float = 1.15
    """Local models only (API models get temperature and top-p)."""
    max_new_tokens: int = 64


@dataclass
class GenStats:
    """What generating one run cost."""

    responses: int = 0
    seconds: float = 0.0
    """Wall time of the generation."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cut: int = 0
    """Prompts cut from the left to fit the model's window."""
    steps: int = 0
    """Local: decoding steps (``rows / steps`` is the mean batch size)."""
    rows: int = 0
    empty: int = 0
    """Blank responses."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def responses_per_s(self) -> float | None:
        """Responses per second of wall time."""
        return self.responses / self.seconds if self.seconds > 0 else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        tokens_per_s = self.completion_tokens / self.seconds if self.seconds > 0 else None
        return {
            "responses": self.responses,
            "seconds": round(self.seconds, 2),
            "responses_per_s": self.responses_per_s,
            "completion_tokens_per_s": tokens_per_s,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cut_prompts": self.cut,
            "empty_responses": self.empty,
            "mean_batch": self.rows / self.steps if self.steps else None,
            **self.extra,
        }


def _finish(
    chain: Chain,
    text: str,
    *,
    seed: int,
    system: str,
    with_strategy: bool,
    stats: GenStats,
    on_record: OnRecord,
) -> None:
    strategy = None
    if with_strategy:
        parsed, text = parse_reply(text)
        strategy = parsed.value if parsed else None
    text = text.strip()
    stats.responses += 1
    stats.empty += not text
    on_record(chain.record(seed, system, text, strategy))
    chain.advance(text, strategy)


@dataclass
class LocalGenerator:
    """A local causal LM (and optional LoRA adapter) generating agent responses in batches.

    Args:
        model: ``"embedded"`` or a model folder.
        adapter: a LoRA adapter folder, or ``None``.
        with_strategy: the agent writes ``[Strategy]`` tags (its histories carry them too).
        system: the system prompt (``{problem_type}``/``{scenario}`` are filled in).
        max_length: the prompt plus the response fit in this many tokens; longer histories
            lose their oldest turns.
        max_batch_size: the most responses decoded together.
    """

    model: str
    adapter: str | None
    with_strategy: bool
    system: str
    max_length: int = 1024
    max_batch_size: int = 16

    def load(self) -> Any:
        """The loaded model (once per process)."""
        from sweetiechat.backends.local import load_causal_lm

        return load_causal_lm(self.model, self.adapter)

    def prompt_ids(self, tokenizer: Any, chain: Chain, budget: int) -> tuple[list[int], bool]:
        """The prompt's token ids for ``chain``'s next turn, and whether it was cut."""
        dialogue = chain.context_dialogue()
        turns = dialogue.turns
        for start in range(len(turns) + 1):
            cut = dialogue.model_copy(update={"turns": turns[start:]})
            text = agent_prompt(
                tokenizer, cut, with_strategy=self.with_strategy, system=self.system
            )
            ids: list[int] = tokenizer(text, add_special_tokens=False)["input_ids"]
            if len(ids) <= budget or start == len(turns):
                return ids[-budget:] if len(ids) > budget else ids, start > 0
        raise AssertionError("unreachable")  # pragma: no cover


def generate_local(
    generator: LocalGenerator,
    chains: Sequence[Chain],
    sampling: Sampling,
    seed: int,
    on_record: OnRecord,
    *,
    run: int | None = None,
) -> GenStats:
    """Answer every target of ``chains`` with a local model, in one continuous batch.

    Chains of both modes can share the batch; a generated-context chain's next turn is
    admitted before the reference-context turns still waiting.

    Args:
        generator: the model and prompt format.
        chains: the work (see :func:`~sweetiechat.eval.agent.build_chains`).
        sampling: the decoding settings.
        seed: the sampling seed.
        on_record: called with each record as soon as it is written.
        run: the records' ``seed`` (default: ``seed``), e.g. an adapter's training seed.
    """
    from sweetiechat.backends.batching import Batcher, GenRequest
    from sweetiechat.backends.batching import Sampling as RowSampling
    from sweetiechat.backends.local import STOP_STRINGS

    lm = generator.load()
    tokenizer = lm.tokenizer
    batcher = Batcher(lm, max_batch_size=generator.max_batch_size, seed=seed)
    row_sampling = RowSampling(sampling.temperature, sampling.top_p, sampling.repetition_penalty)
    budget = max(generator.max_length - sampling.max_new_tokens, 16)
    stats = GenStats()
    started = time.perf_counter()
    # Generated-context chains first: each of their turns waits for the one before, so they
    # are the critical path; independent reference-context turns fill the batch around them.
    ready = deque(sorted((c for c in chains if c.pending), key=lambda c: c.mode != "generated"))
    inflight: dict[int, Chain] = {}
    while ready or batcher.busy:
        while ready and len(batcher.rows) + len(batcher.waiting) < generator.max_batch_size:
            chain = ready.popleft()
            ids, cut = generator.prompt_ids(tokenizer, chain, budget)
            stats.cut += cut
            stats.prompt_tokens += len(ids)
            request = GenRequest(ids, sampling.max_new_tokens, row_sampling, STOP_STRINGS)
            inflight[id(request)] = chain
            batcher.submit(request)
        for request in batcher.step():
            chain = inflight.pop(id(request))
            stats.completion_tokens += len(request.generated)
            system = system_for(chain.dialogue, generator.system)
            _finish(
                chain,
                request.text,
                seed=seed if run is None else run,
                system=system,
                with_strategy=generator.with_strategy,
                stats=stats,
                on_record=on_record,
            )
            if chain.pending:
                ready.appendleft(chain)  # a generated-context chain's next turn goes first
    stats.seconds = time.perf_counter() - started
    stats.steps, stats.rows = batcher.steps, batcher.rows_decoded
    stats.extra["prefill_s"] = round(batcher.prefill_s, 2)
    stats.extra["decode_s"] = round(batcher.decode_s, 2)
    return stats


def api_messages(chain: Chain, system: str, with_strategy: bool) -> list[Message]:
    """The chat messages for ``chain``'s next turn, as ``(role, text)`` pairs."""
    messages = agent_messages(chain.context_dialogue(), with_strategy=with_strategy, system=system)
    return [(m["role"], m["content"]) for m in messages]


async def agenerate_api(
    backend: ChatBackend,
    chains: Sequence[Chain],
    sampling: Sampling,
    seed: int,
    on_record: OnRecord,
    *,
    system: str,
    with_strategy: bool = False,
    concurrency: int = 4,
    run: int | None = None,
) -> GenStats:
    """Answer every target of ``chains`` with a chat backend (an API model).

    Chains run concurrently (at most ``concurrency`` requests at once); each chain's turns
    run in order, so a generated-context history always holds the earlier responses.
    ``run`` is the records' ``seed`` (default: ``seed``).
    """
    stats = GenStats()
    gate = asyncio.Semaphore(concurrency)
    # Temperature and the token limit are the backend's own settings (see build_api_backend).
    options: dict[str, Any] = {"seed": seed}
    if sampling.temperature > 0 and sampling.top_p < 1:
        options["top_p"] = sampling.top_p

    async def walk(chain: Chain) -> None:
        while chain.pending:
            async with gate:
                try:
                    completion = await backend.acomplete(
                        api_messages(chain, system, with_strategy), **options
                    )
                except EmptyCompletionError:  # still empty after the backend's retries
                    completion = Completion(text="")
            stats.prompt_tokens += completion.prompt_tokens
            stats.completion_tokens += completion.completion_tokens
            _finish(
                chain,
                completion.text,
                seed=seed if run is None else run,
                system=system_for(chain.dialogue, system),
                with_strategy=with_strategy,
                stats=stats,
                on_record=on_record,
            )

    started = time.perf_counter()
    await asyncio.gather(*(walk(c) for c in chains if c.pending))
    stats.seconds = time.perf_counter() - started
    return stats
