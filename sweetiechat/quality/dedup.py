"""Near-duplicate dialogues: MinHash LSH (datasketch), one pass, first one kept.

A dialogue is reduced to the set of its word n-grams (``ngram`` words, lower case); two
dialogues are near-duplicates when the Jaccard similarity of those sets reaches
``threshold``. :class:`NearDuplicateIndex` keeps only each kept dialogue's MinHash signature
(``num_perm`` uint32) and the LSH buckets, never the texts, so memory grows by a few hundred
bytes per dialogue; each lookup touches only the dialogues sharing a band, so time is linear
in the number of dialogues. :func:`all_pairs_duplicates` is the exact quadratic method, kept
as the reference (tests, benchmark).

>>> index = NearDuplicateIndex(threshold=0.5)
>>> index.add("a", "I lost my job last week and I cannot sleep at night anymore")
>>> index.add("b", "I lost my job last week and I cannot sleep at night any more")
('a', ...)
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from sweetiechat.types import Dialogue

__all__ = ["NearDuplicateIndex", "all_pairs_duplicates", "dialogue_text", "jaccard", "shingles"]

_WORD = re.compile(r"[a-z0-9']+")


def dialogue_text(dialogue: Dialogue) -> str:
    """The text compared for near-duplicates: every utterance, in order."""
    return "\n".join(t.text for t in dialogue.turns)


def shingles(text: str, ngram: int = 3) -> set[str]:
    """The set of word ``ngram``-grams of ``text`` (lower case); a text shorter than
    ``ngram`` words is one shingle."""
    words = _WORD.findall(text.lower())
    if len(words) <= ngram:
        return {" ".join(words)}
    return {" ".join(words[i : i + ngram]) for i in range(len(words) - ngram + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    """|a ∩ b| / |a ∪ b| (1.0 for two empty sets)."""
    union = len(a | b)
    return len(a & b) / union if union else 1.0


def _hash(shingle: bytes) -> int:
    return zlib.crc32(shingle)


class NearDuplicateIndex:
    """Streaming near-duplicate detection: :meth:`add` each dialogue in order; it returns the
    earlier one it duplicates (and is not indexed), or ``None`` (and is indexed).

    Args:
        threshold: estimated Jaccard similarity of shingle sets at which two texts are
            near-duplicates, in (0, 1].
        num_perm: MinHash permutations; LSH bands are tuned by datasketch for ``threshold``.
        ngram: words per shingle.
        seed: the MinHash permutations' seed (the result is deterministic).
        storage: where the LSH buckets live. ``compact``: one dict per band from the band's
            hash to a row number (a list only when rows collide), about a third of the
            memory of ``datasketch``'s own storage (a set per bucket, and each key's band
            values kept again); both give the same candidates (see benchmarks/dedup.py).
    """

    def __init__(
        self,
        threshold: float = 0.7,
        num_perm: int = 64,
        ngram: int = 3,
        seed: int = 1,
        *,
        storage: Literal["compact", "datasketch"] = "compact",
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        try:
            from datasketch import MinHash, MinHashLSH
        except ImportError:
            from sweetiechat.errors import ConfigError

            raise ConfigError(
                "the near-duplicate filter needs datasketch: pip install 'sweetiechat[metrics]' "
                "(or disable it with --disable near_duplicate)"
            ) from None
        self.threshold = threshold
        self.num_perm = num_perm
        self.ngram = ngram
        self._minhash = MinHash
        base = MinHash(num_perm=num_perm, seed=seed)
        self._permutations = base.permutations
        # datasketch >= 2 asks for the hashing scheme of reused permutations.
        self._scheme: dict[str, Any] = {"scheme": base.scheme} if hasattr(base, "scheme") else {}
        self._seed = seed
        try:
            # Weighted towards recall: candidates are verified against their signatures, so a
            # false candidate costs one comparison, a missed one a duplicate kept. At 0.7 and
            # 64 permutations: 12 bands of 5 rows, P(candidate) 0.89 at 0.7, 0.99 at 0.8.
            self._lsh: Any = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=(0.1, 0.9))
        except ValueError:  # a threshold near 1: datasketch's optimum has fewer than 2 bands
            self._lsh = MinHashLSH(num_perm=num_perm, params=(2, num_perm // 2))
        self._storage = storage
        self._ranges = [(i * self._lsh.r, (i + 1) * self._lsh.r) for i in range(self._lsh.b)]
        self._bands: list[dict[int, int | list[int]]] = [{} for _ in self._ranges]
        if storage == "compact":
            self._lsh = None  # only its band parameters were needed
        self._keys: list[str] = []
        self._sigs = np.zeros((1024, num_perm), dtype=np.uint32)

    def __len__(self) -> int:
        return len(self._keys)

    def signature(self, text: str) -> Any:
        """The MinHash of ``text``'s shingles."""
        m = self._minhash(
            num_perm=self.num_perm,
            seed=self._seed,
            hashfunc=_hash,
            permutations=self._permutations,
            **self._scheme,
        )
        m.update_batch([s.encode("utf-8") for s in shingles(text, self.ngram)])
        return m

    def match(self, minhash: Any) -> tuple[str, float] | None:
        """The best indexed near-duplicate of ``minhash`` and its estimated similarity."""
        best: tuple[str, float] | None = None
        for row in self._candidates(minhash.hashvalues):
            sim = float(np.mean(self._sigs[row] == minhash.hashvalues))
            if sim >= self.threshold and (best is None or sim > best[1]):
                best = (self._keys[row], sim)
        return best

    def insert(self, key: str, minhash: Any) -> None:
        """Index ``minhash`` under ``key`` (a kept dialogue)."""
        row = len(self._keys)
        if row == len(self._sigs):
            self._sigs = np.concatenate([self._sigs, np.zeros_like(self._sigs)])
        self._sigs[row] = minhash.hashvalues
        self._keys.append(key)
        if self._lsh is not None:
            self._lsh.insert(row, minhash, check_duplication=False)
            return
        values = np.ascontiguousarray(minhash.hashvalues, dtype=np.uint32)
        for band, (start, stop) in zip(self._bands, self._ranges, strict=True):
            bucket = hash(values[start:stop].tobytes())
            found = band.get(bucket)
            if found is None:
                band[bucket] = row
            elif isinstance(found, int):
                band[bucket] = [found, row]
            else:
                found.append(row)

    def _candidates(self, hashvalues: np.ndarray) -> set[int]:
        if self._lsh is not None:
            return set(self._lsh.query(self._minhash(hashvalues=hashvalues, **self._scheme)))
        values = np.ascontiguousarray(hashvalues, dtype=np.uint32)
        rows: set[int] = set()
        for band, (start, stop) in zip(self._bands, self._ranges, strict=True):
            found = band.get(hash(values[start:stop].tobytes()))
            if isinstance(found, int):
                rows.add(found)
            elif found is not None:
                rows.update(found)
        return rows

    def add(self, key: str, text: str) -> tuple[str, float] | None:
        """Check ``text`` against the index; index it when it duplicates nothing.

        Returns:
            ``(key of the earlier dialogue, estimated Jaccard similarity)`` or ``None``.
        """
        minhash = self.signature(text)
        found = self.match(minhash)
        if found is None:
            self.insert(key, minhash)
        return found


def all_pairs_duplicates(
    texts: Sequence[str], threshold: float = 0.7, ngram: int = 3
) -> list[int | None]:
    """The exact, quadratic method: for each text, the index of the first earlier *kept*
    text whose shingle-set Jaccard similarity reaches ``threshold`` (``None``: kept).
    Compares every pair, so use it only on a few thousand texts."""
    sets = [shingles(t, ngram) for t in texts]
    kept: list[int] = []
    out: list[int | None] = []
    for i, s in enumerate(sets):
        match = next((k for k in kept if jaccard(s, sets[k]) >= threshold), None)
        out.append(match)
        if match is None:
            kept.append(i)
    return out
