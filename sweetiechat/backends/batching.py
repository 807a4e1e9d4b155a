"""Continuous batching for a local causal LM: one decode loop shared by every request.

Requests join the running batch between decoding steps and leave it as soon as they finish
(end of text, a stop string, or their token limit), so a short answer never waits for a long
one and a new request never waits for a whole batch to end. Each request is prefilled on its
own (no padding waste in the prompt, where most of the compute goes), in a prefill thread
beside the decoding one when torch has two threads or more to split
(:mod:`sweetiechat.backends.threads`), so a new prompt does not stop the rows that are
decoding; it starts from the
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
import contextlib
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sweetiechat.backends.batch_cache import BatchCache
from sweetiechat.backends.prefix import forward_options, prefill
from sweetiechat.backends.threads import overlap_default, use_worker_threads

if TYPE_CHECKING:
    from sweetiechat.backends.local import LoadedLM
    from sweetiechat.backends.prefix import PrefixCache

__all__ = ["Batcher", "GenRequest", "Sampling"]

TOP_K = 50
IDLE_EXIT_S = 5.0
"""The prefill thread ends after this long without a request (a new one starts on demand)."""


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
    error: Exception | None = None
    """Why the request failed (its prompt could not run); it is then done, with no text."""


@dataclass
class _Row:
    request: GenRequest
    next_token: int
    position: int


@dataclass
class _Prefilled:
    """A request whose prompt has run, waiting to join the batch."""

    request: GenRequest
    row: _Row | None = None
    """None when the request finished with its first token."""
    keys: list[Any] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)
    seen: Any = None


class Batcher:
    """The running batch of one model. Not thread-safe: one thread calls :meth:`step` at a
    time (the async :meth:`serve` loop, or :meth:`run` for a synchronous call).

    Args:
        lm: the loaded model, tokenizer and lock (held while a prompt runs; also while the
            batch decodes when prompts run between steps).
        max_batch_size: the most rows decoded together; further requests wait to join.
        seed: seed of the sampling generator.
        prefix_cache: where prompts find an earlier prompt's keys/values (default: the
            model's shared cache; False or None: no reuse).
        overlap_prefill: prefill new prompts in a thread beside the decoding (default: when
            torch has two threads or more, and the batch has room for more than one row).
    """

    def __init__(
        self,
        lm: LoadedLM,
        *,
        max_batch_size: int = 16,
        seed: int = 0,
        prefix_cache: PrefixCache | bool | None = True,
        overlap_prefill: bool | None = None,
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
        self.prefill_generator = torch.Generator().manual_seed(seed + 1)
        """Picks each request's first token in the prefill thread (generators are not
        thread-safe)."""
        self.overlap = (
            max_batch_size > 1 and overlap_default() if overlap_prefill is None else overlap_prefill
        )
        """True: prompts are prefilled in a thread of their own, beside the decoding."""
        self._inbox: queue.SimpleQueue[GenRequest] = queue.SimpleQueue()
        self._ready: deque[_Prefilled] = deque()
        self._ready_event = threading.Event()
        self._state = threading.Lock()
        self._pending = 0
        """Requests handed to the prefill thread and not yet in ``_ready``."""
        self._worker: threading.Thread | None = None
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

    def _pick(
        self, logits: Any, seen: Any, samplings: list[Sampling], generator: Any = None
    ) -> list[int]:
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
            choice = torch.multinomial(
                ordered.softmax(-1), 1, generator=generator or self.generator
            )
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

    def _prefill(self, request: GenRequest) -> _Prefilled:
        """Run ``request``'s prompt and pick its first token (under the model's lock)."""
        import torch

        started = time.perf_counter()
        prompt = request.prompt_ids
        pre = prefill(self.lm.model, prompt, self.prefix)
        self.prefill_tokens += len(prompt) - pre.reused
        self.reused_tokens += pre.reused
        self.prefix_hits += pre.reused > 0
        seen = torch.zeros((1, self.vocab), dtype=torch.bool)
        seen[0, torch.tensor(prompt)] = True
        generator = self.prefill_generator if self.overlap else self.generator
        (token,) = self._pick(pre.logits, seen, [request.sampling], generator)
        seen[0, token] = True
        self.prefill_s += time.perf_counter() - started
        row = _Row(request, token, len(prompt))
        if request.max_new_tokens <= 0 or self._finish_check(row):
            return _Prefilled(request)
        keys = [layer.keys for layer in pre.cache.layers]
        values = [layer.values for layer in pre.cache.layers]
        return _Prefilled(request, row, keys, values, seen)

    def _admit(self, ready: _Prefilled) -> bool:
        """Add a prefilled request to the batch; False if it had already finished."""
        import torch

        if ready.row is None:
            return False
        self.kv.add(ready.keys, ready.values)
        self.seen = ready.seen if self.seen is None else torch.cat([self.seen, ready.seen])
        self.rows.append(ready.row)
        return True

    def _prefill_loop(self) -> None:
        """The prefill thread: prefill requests in arrival order; end when idle."""
        import torch

        while True:
            try:
                request = self._inbox.get(timeout=IDLE_EXIT_S)
            except queue.Empty:
                with self._state:
                    if self._inbox.empty():
                        self._worker = None
                        return
                continue
            ready: _Prefilled | None = None
            if not request.cancelled:
                try:
                    use_worker_threads()
                    with self.lm.lock, torch.inference_mode():
                        ready = self._prefill(request)
                except Exception as error:  # the request fails, the batch goes on
                    request.error = error
                    ready = _Prefilled(request)
            with self._state:
                self._pending -= 1
                if ready is not None:
                    self._ready.append(ready)
            self._ready_event.set()

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
        """Queue ``request``; it joins the batch at the next step with room (once prefilled,
        when prefill runs in its own thread)."""
        if not self.overlap:
            self.waiting.append(request)
            return
        with self._state:
            self._pending += 1
            self._inbox.put(request)
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._prefill_loop, name="sweetiechat-prefill", daemon=True
                )
                self._worker.start()

    def _admit_waiting(self, finished: list[GenRequest]) -> None:
        """Bring requests into the batch while it has room (prefilling them here when no
        prefill thread does)."""
        if self.overlap:
            if not self.rows and not self._ready:
                self._ready_event.wait(0.05)  # nothing to decode: wait for a prefill
            self._ready_event.clear()
            while self._ready and len(self.rows) < self.max_batch_size:
                ready = self._ready.popleft()
                if not ready.request.cancelled and not self._admit(ready):
                    finished.append(ready.request)
            return
        while self.waiting and len(self.rows) < self.max_batch_size:
            request = self.waiting.pop(0)
            if request.cancelled:
                continue
            try:
                ready = self._prefill(request)
            except Exception as error:  # the request fails, the batch goes on
                request.error = error
                ready = _Prefilled(request)
            if not self._admit(ready):
                finished.append(request)

    def step(self) -> list[GenRequest]:
        """Admit waiting requests, run one decoding step; returns the requests that finished."""
        import torch

        finished: list[GenRequest] = []
        if self.overlap:
            use_worker_threads()
        # With a prefill thread, the model's lock guards prompts and the prefix cache only:
        # decoding reads nothing they write.
        lock = contextlib.nullcontext() if self.overlap else self.lm.lock
        with lock, torch.inference_mode():
            self._keep([i for i, row in enumerate(self.rows) if not row.request.cancelled])
            self._admit_waiting(finished)
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
        return bool(self.rows or self.waiting or self._pending or self._ready)

    def run(self, requests: Sequence[GenRequest]) -> None:
        """Complete ``requests`` synchronously (batched together).

        Raises:
            Exception: the first failed request's error (the others are complete).
        """
        for request in requests:
            self.submit(request)
        while any(not r.done for r in requests) and self.busy:
            self.step()
        for request in requests:
            if request.error is not None:
                raise request.error

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
