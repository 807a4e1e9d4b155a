"""Several replicas of one model behind one backend, with failover.

Each request goes to the healthy replica with the fewest requests in flight (least
outstanding requests): replicas that answer slower hold more requests and so get fewer new
ones, which round-robin would not notice. A replica that refuses connections, or fails with
5xx or timeouts ``failures_to_eject`` times in a row, is taken out for ``cooldown`` seconds
(doubling on each repeated failure, up to ``max_cooldown``), then tried again. The error of
the failed request is re-raised, so :class:`~sweetiechat.backends.Retrying` retries it, on
another replica.

>>> import asyncio
>>> from sweetiechat.backends.base import Completion
>>> class Echo:
...     def __init__(self, name): self.name = name
...     async def acomplete(self, messages, **options): return Completion(text=self.name)
>>> both = Replicated([Echo("a"), Echo("b")])
>>> sorted({asyncio.run(both.acomplete([("user", "hi")])).text for _ in range(4)})
['a', 'b']
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sweetiechat.backends.base import ChatBackend, Completion, Message

__all__ = ["Replica", "Replicated", "is_connection_failure"]

_TIMEOUTS = {"APITimeoutError", "TimeoutException", "TimeoutError"}


def is_connection_failure(err: BaseException) -> bool:
    """True when the replica could not be reached at all (refused, reset, DNS)."""
    names = {cls.__name__ for cls in type(err).__mro__}
    if names & _TIMEOUTS:
        return False  # a slow answer: counted like a 5xx, not ejected at once
    return bool(names & {"APIConnectionError", "ConnectError", "ConnectionError"})


def _is_server_failure(err: BaseException) -> bool:
    status = getattr(err, "status_code", None)
    if isinstance(status, int):
        return status >= 500
    return bool({cls.__name__ for cls in type(err).__mro__} & _TIMEOUTS)


@dataclass
class Replica:
    """One replica and its health."""

    backend: ChatBackend
    label: str
    outstanding: int = 0
    requests: int = 0
    failures: int = 0
    consecutive: int = 0
    ejections: int = 0
    streak: int = 0
    ejected_until: float = 0.0


class Replicated:
    """One backend over several replicas of the same model.

    Args:
        replicas: the replicas' backends (e.g. one ``ChatOpenAI`` per vLLM server).
        labels: how to name each replica in reports (default: ``replica-0`` ...).
        failures_to_eject: 5xx answers or timeouts in a row that take a replica out
            (a refused connection takes it out at once).
        cooldown: seconds out after the first ejection; doubles each time, up to
            ``max_cooldown``.
        on_eject: called with the replica's label and the error when one is taken out.
    """

    def __init__(
        self,
        replicas: Sequence[ChatBackend],
        *,
        labels: Sequence[str] | None = None,
        failures_to_eject: int = 2,
        cooldown: float = 5.0,
        max_cooldown: float = 60.0,
        on_eject: Callable[[str, BaseException], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not replicas:
            raise ValueError("Replicated needs at least one replica")
        names = labels or [f"replica-{i}" for i in range(len(replicas))]
        self.replicas = [Replica(b, label) for b, label in zip(replicas, names, strict=True)]
        self.name = replicas[0].name
        self.failures_to_eject = failures_to_eject
        self.cooldown = cooldown
        self.max_cooldown = max_cooldown
        self.on_eject = on_eject
        self.clock = clock
        self._turn = 0

    def _pick(self) -> Replica:
        now = self.clock()
        healthy = [r for r in self.replicas if r.ejected_until <= now]
        if not healthy:  # all out: try the one that comes back first rather than fail
            return min(self.replicas, key=lambda r: r.ejected_until)
        self._turn += 1
        n = len(healthy)
        # Fewest in flight; ties go round-robin, so an idle pool still spreads requests.
        order = healthy[self._turn % n :] + healthy[: self._turn % n]
        return min(order, key=lambda r: r.outstanding)

    def _eject(self, replica: Replica, err: BaseException) -> None:
        if replica.ejected_until > self.clock():
            return  # already out: the other requests in flight to it fail too, count once
        replica.ejections += 1
        replica.streak += 1
        replica.consecutive = 0
        out_for = min(self.cooldown * 2 ** (replica.streak - 1), self.max_cooldown)
        replica.ejected_until = self.clock() + out_for
        if self.on_eject is not None:
            self.on_eject(replica.label, err)

    async def acomplete(self, messages: Sequence[Message], **options: Any) -> Completion:
        replica = self._pick()
        replica.outstanding += 1
        replica.requests += 1
        try:
            completion = await replica.backend.acomplete(messages, **options)
        except Exception as err:
            replica.failures += 1
            if is_connection_failure(err):
                self._eject(replica, err)
            elif _is_server_failure(err):
                replica.consecutive += 1
                if replica.consecutive >= self.failures_to_eject:
                    self._eject(replica, err)
            raise
        finally:
            replica.outstanding -= 1
        replica.consecutive = 0
        replica.streak = 0  # healthy again: the next time out starts short
        return completion

    @property
    def stats(self) -> dict[str, dict[str, int]]:
        """Per replica: requests sent, failures, times taken out."""
        return {
            r.label: {"requests": r.requests, "failures": r.failures, "ejections": r.ejections}
            for r in self.replicas
        }
