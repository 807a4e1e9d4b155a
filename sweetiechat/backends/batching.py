"""Continuous batching for a local causal LM: one decode loop shared by every request.

Requests join the running batch between decoding steps and leave it as soon as they finish
(end of text, a stop string, or their token limit), so a short answer never waits for a long
one and a new request never waits for a whole batch to end. Each request is prefilled on its
own (no padding waste in the prompt, where most of the compute goes), starting from the
longest start of an earlier prompt found in the model's prefix cache
(:mod:`sweetiechat.backends.prefix`), and its key/value cache is then written, left-padded,
into the batch's preallocated buffers (:mod:`sweetiechat.backends.batch_cache`); the
attention mask hides the padding and each row keeps its own positions, so a row's text does
not depend on what it was batched with or on what it reused (up to float rounding).

Sampling is per row: greedy when ``temperature <= 0``, else temperature, top-k 50 and top-p,
after a repetition penalty over the prompt and the tokens generated so far (the same order
as ``transformers``' ``generate``).

Torch is imported inside functions (this module is imported by ``backends.local`` only).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sweetiechat.backends.batch_cache import BatchCache
from sweetiechat.backends.prefix import forward_options, prefill

if TYPE_CHECKING:
    from sweetiechat.backends.local import LoadedLM
    from sweetiechat.backends.prefix import PrefixCache

__all__ = ["Batcher", "GenRequest", "Sampling"]

TOP_K = 50


@dataclass(frozen=True)
class Sampling:
    """How one request picks its tokens."""

    temperature: float = 0.0
    """0 or less: greedy."""
    top_p: float = 1.0
    repetition_penalty: float = 1.0


@dataclass
class GenRequest:
    """One prompt to complete, and where its result goes."""

    prompt_ids: list[int]
    max_new_tokens: int
    sampling: Sampling
    stop: Sequence[str] = ()
    """Generation ends when the text contains one of these; the text is cut before it."""
    on_done: Callable[[GenRequest], None] | None = None
    """Called (in the decoding thread) when the request finishes."""
    on_token: Callable[[GenRequest], None] | None = None
    """Called (in the decoding thread) after each token added to ``generated`` (streaming)."""
    generated: list[int] = field(default_factory=list)
    text: str = ""
    done: bool = False
    cancelled: bool = False


@dataclass
class _Row:
    request: GenRequest
    next_token: int
    position: int


class Batcher:
    """The running batch of one model. Not thread-safe: one thread calls :meth:`step` at a
    time (the async :meth:`serve` loop, or :meth:`run` for a synchronous call).

    Args:
        lm: the loaded model, tokenizer and lock (held during each step's forward passes).
        max_batch_size: the most rows decoded together; further requests wait to join.
        seed: seed of the sampling generator.
    """

    def __init__(
        self,
        lm: LoadedLM,
        *,
        max_batch_size: int = 16,
        seed: int = 0,
        prefix_cache: PrefixCache | bool | None = True,
    ) -> None:
        import torch

        self.lm = lm
        self.prefix: PrefixCache | None = (
            getattr(lm, "prefix", None) if prefix_cache is True else prefix_cache or None
        )
        """Where prompts find the keys/values of an earlier prompt's start (default: the
        model's shared :class:`~sweetiechat.backends.prefix.PrefixCache`; None: no reuse)."""
        self.max_batch_size = max_batch_size
        self.rows: list[_Row] = []
        self.waiting: list[GenRequest] = []
        self.kv = BatchCache(max_batch_size)
        """The rows' keys/values, in place in preallocated buffers."""
        self.seen: Any = None
        """``[rows, vocab]``: the tokens each row has seen (for the repetition penalty)."""
        self.generator = torch.Generator().manual_seed(seed)
        tok = lm.tokenizer
        eos = lm.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if tok.eos_token_id is not None:
            eos_ids.add(tok.eos_token_id)
        self.eos = eos_ids
        self.cache_argument = forward_options(lm.model)[0]
        self.vocab = int(lm.model.get_output_embeddings().weight.shape[0])
        self.steps = 0
        """Decoding steps run so far."""
        self.rows_decoded = 0
        """Row-steps run so far (``rows_decoded / steps`` is the mean batch size)."""
        self.prefill_tokens = 0
        """Prompt tokens prefilled so far (run through the model, not taken from the cache)."""
        self.reused_tokens = 0
        """Prompt tokens taken from the prefix cache instead of being prefilled."""
        self.prefix_hits = 0
        """Prompts that reused a cached prefix."""
        self.prefill_s = 0.0
        """Seconds spent prefilling prompts (the rest of a step's time is decoding)."""
        self.decode_s = 0.0

    # -- sampling ---------------------------------------------------------------------------

    def _pick(self, logits: Any, seen: Any, samplings: list[Sampling]) -> list[int]:
        """Next token per row from ``logits`` [rows, vocab], given the tokens ``seen``."""
        import torch

        scores = logits.float()
        penalty = torch.tensor([[s.repetition_penalty] for s in samplings])
        if bool((penalty != 1.0).any()):
            penalised = torch.where(scores < 0, scores * penalty, scores / penalty)
            scores = torch.where(seen, penalised, scores)
        picks = scores.argmax(-1)
        sampled = [i for i, s in enumerate(samplings) if s.temperature > 0]
        if sampled:
            sub = scores[sampled] / torch.tensor([[samplings[i].temperature] for i in sampled])
            # Top-k first, then top-p among those k, sorted (sorting the whole vocabulary
            # instead cost more than the model's forward pass at 16 rows).
            ordered, order = torch.topk(sub, min(TOP_K, sub.shape[-1]), dim=-1)
            probs = ordered.softmax(-1)
            top_p = torch.tensor([[samplings[i].top_p] for i in sampled])
            drop = (probs.cumsum(-1) - probs) > top_p  # keep the token that crosses
            ordered = ordered.masked_fill(drop, float("-inf"))
            choice = torch.multinomial(ordered.softmax(-1), 1, generator=self.generator)
            picks[sampled] = order.gather(-1, choice).squeeze(-1)
        return [int(t) for t in picks]

    # -- membership -------------------------------------------------------------------------

    def _finish_check(self, row: _Row) -> bool:
        """Record ``row.next_token`` as generated; True when the request is complete."""
        r = row.request
        token = row.next_token
        if token in self.eos:
            return True
        r.generated.append(token)
        if r.on_token is not None:
            r.on_token(r)
        if r.stop:
            text = self.lm.tokenizer.decode(r.generated, skip_special_tokens=True)
            cut = min((i for i in (text.find(s) for s in r.stop) if i >= 0), default=-1)
            if cut >= 0:
                r.text = text[:cut]
                return True
        return len(r.generated) >= r.max_new_tokens

    def _join(self, request: GenRequest) -> bool:
        """Prefill ``request`` and add it to the batch; False if it finished at once."""
        import torch

        started = time.perf_counter()
        prompt = request.prompt_ids
        pre = prefill(self.lm.model, prompt, self.prefix)
        self.prefill_tokens += len(prompt) - pre.reused
        self.reused_tokens += pre.reused
        self.prefix_hits += pre.reused > 0
        keys = [layer.keys for layer in pre.cache.layers]
        values = [layer.values for layer in pre.cache.layers]
        self.prefill_s += time.perf_counter() - started
        seen = torch.zeros((1, self.vocab), dtype=torch.bool)
        seen[0, torch.tensor(prompt)] = True
        (token,) = self._pick(pre.logits, seen, [request.sampling])
        seen[0, token] = True
        row = _Row(request, token, len(prompt))
        if request.max_new_tokens <= 0 or self._finish_check(row):
            return False
        self.kv.add(keys, values)
        self.seen = seen if self.seen is None else torch.cat([self.seen, seen])
        self.rows.append(row)
        return True

    def _keep(self, keep: list[int]) -> None:
        """Keep only rows ``keep`` (ascending); rows from the end fill the gaps."""
        if len(keep) == len(self.rows):
            return
        for to, source in self.kv.keep(keep):
            self.rows[to] = self.rows[source]
            self.seen[to] = self.seen[source]
        self.rows = self.rows[: len(keep)]
        self.seen = self.seen[: len(keep)] if keep else None

    # -- one step ---------------------------------------------------------------------------

    def submit(self, request: GenRequest) -> None:
        """Queue ``request``; it joins the batch at the next step with room."""
        self.waiting.append(request)

    def step(self) -> list[GenRequest]:
        """Admit waiting requests, run one decoding step; returns the requests that finished."""
        import torch

        finished: list[GenRequest] = []
        with self.lm.lock, torch.inference_mode():
            self._keep([i for i, row in enumerate(self.rows) if not row.request.cancelled])
            while self.waiting and len(self.rows) < self.max_batch_size:
                request = self.waiting.pop(0)
                if request.cancelled:
                    continue
                if not self._join(request):
                    finished.append(request)
            if self.rows:
                started = time.perf_counter()
                cache, mask = self.kv.step()
                tokens = torch.tensor([[row.next_token] for row in self.rows])
                positions = torch.tensor([[row.position] for row in self.rows])
                out = self.lm.model(
                    input_ids=tokens,
                    attention_mask=mask,
                    position_ids=positions,
                    use_cache=True,
                    **{self.cache_argument: cache},
                )
                self.steps += 1
                self.rows_decoded += len(self.rows)
                self.kv.advance()
                picks = self._pick(
                    out.logits[:, -1], self.seen, [r.request.sampling for r in self.rows]
                )
                keep = []
                for i, (row, token) in enumerate(zip(self.rows, picks, strict=True)):
                    row.next_token, row.position = token, row.position + 1
                    self.seen[i, token] = True
                    if self._finish_check(row):
                        finished.append(row.request)
                    else:
                        keep.append(i)
                self._keep(keep)
                self.decode_s += time.perf_counter() - started
        for request in finished:
            if not request.text and request.generated:
                request.text = self.lm.tokenizer.decode(request.generated, skip_special_tokens=True)
            request.done = True
            if request.on_done is not None:
                request.on_done(request)
        return finished

    @property
    def mask(self) -> Any:
        """``[rows, columns]``: the batch's attention mask (None when no row is decoding)."""
        return self.kv.mask

    @property
    def busy(self) -> bool:
        """True while rows are decoding or requests are waiting."""
        return bool(self.rows or self.waiting)

    def run(self, requests: Sequence[GenRequest]) -> None:
        """Complete ``requests`` synchronously (batched together)."""
        for request in requests:
            self.submit(request)
        while any(not r.done for r in requests) and self.busy:
            self.step()

    async def serve(self, inbox: asyncio.Queue[GenRequest]) -> None:
        """Run forever: take requests from ``inbox`` and step the batch in a worker thread.

        Each request's ``on_done`` is called in the worker thread; use
        ``loop.call_soon_threadsafe`` there to resolve a future.
        """
        while True:
            if not self.busy:
                self.submit(await inbox.get())
            while not inbox.empty():
                self.submit(inbox.get_nowait())
            await asyncio.to_thread(self.step)
