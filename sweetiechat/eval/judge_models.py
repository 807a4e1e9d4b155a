"""Judges from the same settings as ``generate``'s models.

A judge is configured like any role (:class:`~sweetiechat.config.RoleConfig`): an
``openai`` (or ``langchain``) model is built by :func:`sweetiechat.factory.build_backend`
(with its retries, rate limits and usage counting) and asked to answer with a label; the
``embedded`` backend (or a local checkpoint) becomes a
:class:`~sweetiechat.backends.scoring.LikelihoodChooser`, which scores each label's
log-likelihood, so it always answers.

Unless the config sets them, a served judge samples at temperature 0 and answers in at most
32 tokens (a label is all it is asked for).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sweetiechat.backends.wrappers import UsageLedger
from sweetiechat.config import RoleConfig
from sweetiechat.errors import ConfigError

__all__ = ["Judges", "build_judges", "judge_name", "prepare_judges"]


def judge_name(cfg: RoleConfig) -> str:
    """The name a judge's answers are recorded under: its model (the embedded model's label
    for the embedded backend)."""
    if cfg.backend == "embedded":
        from sweetiechat.backends.local import EMBEDDED_LABEL

        return cfg.model or EMBEDDED_LABEL
    if cfg.backend == "langchain":
        return cfg.model or str(cfg.provider)
    return str(cfg.model)


def _judge_settings(cfg: RoleConfig) -> RoleConfig:
    update: dict[str, Any] = {}
    if cfg.temperature is None:
        update["temperature"] = 0.0
    if cfg.max_tokens is None:
        update["max_tokens"] = 32
    return cfg.model_copy(update=update)


@dataclass
class Judges:
    """Named judges, ready for :func:`~sweetiechat.eval.judge.ajudge_pairs`."""

    backends: dict[str, Any]
    """name -> backend (a :class:`~sweetiechat.backends.ChatBackend` or a chooser)."""
    ledger: UsageLedger = field(default_factory=UsageLedger)
    """Calls and tokens of the served judges."""
    clients: list[Any] = field(default_factory=list)
    """HTTP clients to close at the end."""

    async def aclose(self) -> None:
        """Close the HTTP clients."""
        for client in self.clients:
            await client.aclose()
        self.clients.clear()


def prepare_judges(configs: list[RoleConfig]) -> None:
    """Fail fast, before any work: keys set and servers reachable (``openai``), the local
    model installed (``embedded``).

    Raises:
        ConfigError: one line naming the judge and what to do.
    """
    from sweetiechat.factory import check_server

    checked: set[str] = set()
    for cfg in configs:
        if cfg.backend == "openai":
            check_server(cfg, f"judge {judge_name(cfg)}", checked=checked)
        elif cfg.backend == "embedded":
            from sweetiechat.backends.local import embedded_model_dir, require_local

            require_local()
            if not cfg.model:
                embedded_model_dir()


def build_judges(configs: list[RoleConfig]) -> Judges:
    """One judge per config, named by :func:`judge_name`.

    Raises:
        ConfigError: two judges with the same name, or a config that cannot be built.
    """
    from sweetiechat.factory import build_backend

    judges = Judges(backends={})
    shared: dict[Any, Any] = {}
    for cfg in configs:
        name = judge_name(cfg)
        if name in judges.backends:
            raise ConfigError(f"judge {name!r} is given twice; give each --model once")
        if cfg.backend == "embedded":
            from sweetiechat.backends.local import EMBEDDED
            from sweetiechat.backends.scoring import LikelihoodChooser

            judges.backends[name] = LikelihoodChooser(cfg.model or EMBEDDED)
        else:
            judges.backends[name] = build_backend(
                _judge_settings(cfg), f"judge {name}", judges.ledger, shared
            )
    judges.clients = shared.get("clients", [])
    return judges
