"""Prefix key/value-cache reuse for a local causal LM: prompts that begin like an earlier one
skip the shared part of their prefill.

In a dialogue, each role's prompt at turn *t* repeats its prompt at turn *t - 1* (the same
system prompt, the same history, a few lines more), and every dialogue's counselor prompt
starts with the same system prompt. :class:`PrefixCache` keeps the keys and values computed
for recent prompts, keyed by their token ids; a new prompt takes the cached entry with the
longest common token prefix and only the rest of it is run through the model (at positions
offset by the reused length). Attention at a position depends only on the tokens before it,
so the result is the same as a full prefill, up to float rounding.

Entries are evicted least recently used first to stay within a byte budget
(``$SWEETIECHAT_PREFIX_CACHE_MB``, default 1024 MB; SmolLM2-135M holds 46 KB per token in
float32). An entry that a newer one extends, or whose start (three quarters or more) a newer
one reused, is dropped at once: the newer one is the same role's next turn.
Cached tensors are never modified: a hit returns views, and the model concatenates new
positions onto them into fresh tensors.

Not thread-safe: use it under the model's lock (:class:`~sweetiechat.backends.local.LoadedLM`).
"""

from __future__ import annotations

import inspect
import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

__all__ = [
    "DEFAULT_MAX_MB",
    "Prefilled",
    "PrefixCache",
    "PrefixHit",
    "default_max_bytes",
    "forward_options",
    "make_cache",
    "prefill",
]

DEFAULT_MAX_MB = 1024.0
REPLACE = 0.75
"""A new entry made from a hit on this share (or more) of an entry replaces that entry."""


def default_max_bytes() -> int:
    """``$SWEETIECHAT_PREFIX_CACHE_MB`` (0 turns reuse off) in bytes, else 1024 MB.

    Raises:
        ConfigError: when the variable is set to something that is not a number >= 0.
    """
    raw = os.environ.get("SWEETIECHAT_PREFIX_CACHE_MB", "").strip()
    try:
        mb = float(raw) if raw else DEFAULT_MAX_MB
    except ValueError:
        mb = -1.0
    if not 0 <= mb < float("inf"):  # also NaN
        from sweetiechat.errors import ConfigError

        raise ConfigError(
            f"SWEETIECHAT_PREFIX_CACHE_MB={raw!r}: give the prefix cache's size in megabytes "
            "(a number; 0 turns prefix reuse off)"
        )
    return int(mb * 1024 * 1024)


@dataclass(frozen=True)
class _Segment:
    """Keys/values of tokens ``start ..`` of an entry: a view of a stored block's start."""

    start: int
    keys: list[Any]
    values: list[Any]
    """Per layer, ``[1, heads, length, head_dim]``."""
    block: int
    """The stored tensors this is a view of (entries share the blocks of common prefixes)."""
    nbytes: int
    """The whole block's size."""

    @property
    def length(self) -> int:
        return int(self.keys[0].shape[2])

    def head(self, n: int) -> _Segment:
        """Its first ``n`` tokens (views)."""
        if n >= self.length:
            return self
        cut = [t[:, :, :n] for t in self.keys], [t[:, :, :n] for t in self.values]
        return _Segment(self.start, *cut, self.block, self.nbytes)


@dataclass
class _Entry:
    ids: Any
    """The token ids (a 1-D int64 numpy array)."""
    segments: list[_Segment]
    """Consecutive, covering ``ids``."""


@dataclass(frozen=True)
class PrefixHit:
    """The reusable start of a prompt: ``length`` tokens and their keys/values per layer."""

    length: int
    keys: list[Any]
    values: list[Any]
    segments: list[_Segment]
    entry: int
    """The key of the entry it came from."""
    covers: bool
    """True when the prefix is most of that entry (``REPLACE`` of it or more)."""


class PrefixCache:
    """Keys and values of recent prompts, for reuse by prompts that start the same way.

    An entry made from a hit stores only its new tokens and refers to the blocks of the
    prefix it reused, so a dialogue's growing prompts cost about one copy of its text.

    Args:
        max_bytes: the budget for the cached tensors; 0 disables the cache.
        min_length: the shortest prefix worth reusing, in tokens.
    """

    def __init__(self, max_bytes: int | None = None, *, min_length: int = 8) -> None:
        self.max_bytes = default_max_bytes() if max_bytes is None else max(0, int(max_bytes))
        self.min_length = min_length
        self.entries: OrderedDict[int, _Entry] = OrderedDict()
        self.nbytes = 0
        """Bytes of the blocks the entries hold (each shared block counted once)."""
        self._next = 0
        self.lookups = 0
        """Prompts looked up so far."""
        self.prompt_tokens = 0
        """Tokens of the prompts looked up (reused or not)."""
        self.hits = 0
        """Lookups that found a reusable prefix."""
        self.reused_tokens = 0
        """Prompt tokens taken from the cache instead of being prefilled."""

    @property
    def enabled(self) -> bool:
        """False when the budget is 0."""
        return self.max_bytes > 0

    def lookup(self, ids: Sequence[int]) -> PrefixHit | None:
        """The longest cached prefix of ``ids``, leaving at least its last token to run (the
        model must see one token to give the next token's logits); None when none is long
        enough. Counts the lookup, and on a hit the reused tokens."""
        self.lookups += 1
        self.prompt_tokens += len(ids)
        if not self.enabled:
            return None
        import numpy as np
        import torch

        query = np.asarray(ids, dtype=np.int64)
        limit = len(query) - 1
        best, best_len = None, 0
        for key, entry in self.entries.items():
            n = min(limit, len(entry.ids))
            if n <= best_len:
                continue
            differ = np.flatnonzero(entry.ids[:n] != query[:n])
            common = int(differ[0]) if differ.size else n
            if common > best_len:
                best, best_len = key, common
        if best is None or best_len < self.min_length:
            return None
        self.entries.move_to_end(best)
        self.hits += 1
        self.reused_tokens += best_len
        segments = [
            seg.head(best_len - seg.start)
            for seg in self.entries[best].segments
            if seg.start < best_len
        ]
        if len(segments) == 1:
            keys, values = segments[0].keys, segments[0].values
        else:
            layers = range(len(segments[0].keys))
            keys = [torch.cat([seg.keys[i] for seg in segments], dim=2) for i in layers]
            values = [torch.cat([seg.values[i] for seg in segments], dim=2) for i in layers]
        covers = best_len >= REPLACE * len(self.entries[best].ids)
        return PrefixHit(best_len, keys, values, segments, best, covers)

    def add(
        self, ids: Sequence[int], keys: list[Any], values: list[Any], hit: PrefixHit | None = None
    ) -> None:
        """Keep ``keys``/``values`` (per layer ``[1, heads, len(ids), head_dim]``, tensors that
        nobody modifies afterwards) for prompts starting with ``ids``; ``hit`` is the lookup
        they were computed from (only the tokens after it are stored). Entries that ``ids``
        extends are dropped; the least recently used ones go until the budget holds."""
        if not self.enabled or len(ids) < self.min_length:
            return
        import numpy as np

        reused = hit.length if hit is not None else 0
        if reused:  # a copy of the new tokens only, not a view of the whole prompt
            keys = [k[:, :, reused:].clone() for k in keys]
            values = [v[:, :, reused:].clone() for v in values]
        nbytes = sum(t.numel() * t.element_size() for t in (*keys, *values))
        if nbytes > self.max_bytes:
            return
        self._next += 1
        own = _Segment(reused, list(keys), list(values), self._next, nbytes)
        segments = [*(hit.segments if hit is not None else []), own]
        query = np.asarray(ids, dtype=np.int64)
        for key in [
            k
            for k, e in self.entries.items()
            if len(e.ids) <= len(query) and np.array_equal(e.ids, query[: len(e.ids)])
        ]:
            del self.entries[key]
        if hit is not None and hit.covers:
            # The next turn's prompt of the same role: the old one's tail (the lines after
            # the history) will not come again, and its start lives on in the new entry.
            self.entries.pop(hit.entry, None)
        self.entries[self._next] = _Entry(query, segments)
        self._recount()
        while self.nbytes > self.max_bytes and len(self.entries) > 1:
            del self.entries[next(iter(self.entries))]
            self._recount()

    def _recount(self) -> None:
        blocks = {seg.block: seg.nbytes for e in self.entries.values() for seg in e.segments}
        self.nbytes = sum(blocks.values())

    def clear(self) -> None:
        """Forget every entry (the counters stay)."""
        self.entries.clear()
        self.nbytes = 0


@dataclass(frozen=True)
class Prefilled:
    """A prompt run through the model."""

    logits: Any
    """``[1, vocab]``: the next token's logits after the prompt."""
    cache: Any
    """The model's cache object holding the whole prompt's keys/values."""
    reused: int
    """Prompt tokens taken from the prefix cache (the rest were computed)."""


def forward_options(model: Any) -> tuple[str, bool]:
    """The cache argument's name (``cache`` in newer transformers, ``past_key_values``
    before) and whether ``logits_to_keep`` is accepted: read from the model's forward, or
    its base model's for a peft wrapper (which passes both through)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return _forward_options(type(base).forward)


@cache
def _forward_options(forward: Any) -> tuple[str, bool]:
    params = inspect.signature(forward).parameters
    return ("cache" if "cache" in params else "past_key_values"), "logits_to_keep" in params


def prefill(model: Any, ids: Sequence[int], prefix: PrefixCache | None) -> Prefilled:
    """Run prompt ``ids`` (one row) through ``model``, starting from the longest prefix found
    in ``prefix`` and adding the prompt to it; logits are computed at the last position only.
    Call it under the model's lock and ``torch.inference_mode()``."""
    import torch

    cache_argument, last_only = forward_options(model)
    hit = prefix.lookup(ids) if prefix is not None else None
    reused = hit.length if hit is not None else 0
    kwargs: dict[str, Any] = {"logits_to_keep": 1} if last_only else {}
    if hit is not None:
        # Only the rest of the prompt runs, at its own positions, over the cached start.
        kwargs[cache_argument] = make_cache(hit.keys, hit.values)
        kwargs["position_ids"] = torch.arange(reused, len(ids)).unsqueeze(0)
    out = model(input_ids=torch.tensor([list(ids[reused:])]), use_cache=True, **kwargs)
    kv = getattr(out, "cache", None) or out.past_key_values
    if prefix is not None:
        keys = [layer.keys for layer in kv.layers]
        prefix.add(ids, keys, [layer.values for layer in kv.layers], hit)
    return Prefilled(out.logits[:, -1], kv, reused)


def make_cache(keys: list[Any], values: list[Any]) -> Any:
    """A ``DynamicCache`` holding ``keys``/``values`` (no copy of the tensors)."""
    from transformers import DynamicCache

    kv: Any = DynamicCache(
        ddp_cache_data=[(k[:, :, :0], v[:, :, :0]) for k, v in zip(keys, values, strict=True)]
    )
    for layer, k, v in zip(kv.layers, keys, values, strict=True):
        layer.keys, layer.values = k, v
    return kv
