"""How the embedded engine uses the machine's cores: a decoding thread and a prefill thread.

A local model's continuous batch (:mod:`sweetiechat.backends.batching`) decodes in one
thread while new prompts are prefilled in another, so a prompt's prefill does not stop the
rows that are decoding. Each thread gets half of the threads torch was given (at least one):
two threads of two on a 2-core machine would otherwise fight over the same cores. With a
single torch thread (``OMP_NUM_THREADS=1``, or one core) nothing runs beside the decoding:
prefill happens between decoding steps, as in a single-threaded engine.

Torch keeps one default for new threads: once an engine thread has set its count, threads
started later in the process begin with it too (the main thread and older ones keep theirs);
call ``torch.set_num_threads`` in such a thread to give it more.

Torch is imported inside functions.
"""

from __future__ import annotations

import threading

__all__ = ["base_threads", "overlap_default", "use_worker_threads", "worker_threads"]

_BASE: int | None = None
_LOCK = threading.Lock()


def base_threads() -> int:
    """The torch threads the process had when the first engine started (read once)."""
    global _BASE
    with _LOCK:
        if _BASE is None:
            import torch

            _BASE = max(1, torch.get_num_threads())
        return _BASE


def overlap_default() -> bool:
    """True when prefill can run beside decoding (two torch threads or more to split)."""
    return base_threads() >= 2


def worker_threads() -> int:
    """Torch threads for each of the two engine threads: half of :func:`base_threads`."""
    return max(1, base_threads() // 2)


def use_worker_threads() -> None:
    """Give the calling thread :func:`worker_threads` torch threads (a thread keeps its own
    count once it has run an operation, so each engine thread sets it for itself)."""
    import torch

    want = worker_threads()
    if torch.get_num_threads() != want:
        torch.set_num_threads(want)
