"""Seeded reservoir sampling: a uniform sample of a stream in bounded memory."""

from __future__ import annotations

import random
from typing import Generic, TypeVar

__all__ = ["Reservoir"]

T = TypeVar("T")


class Reservoir(Generic[T]):
    """Keeps a uniform random sample of at most ``size`` of the items offered (Algorithm R).

    >>> r = Reservoir(3, seed=0)
    >>> for i in range(100):
    ...     r.add(i)
    >>> len(r.items), r.seen
    (3, 100)
    """

    def __init__(self, size: int, seed: int | str = 0) -> None:
        self.size = size
        self.items: list[T] = []
        self.seen = 0
        self._rng = random.Random(seed)

    def add(self, item: T) -> None:
        """Offer one item."""
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append(item)
        else:
            j = self._rng.randrange(self.seen)
            if j < self.size:
                self.items[j] = item
