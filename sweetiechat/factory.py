"""Build backends and agents from a :class:`~sweetiechat.config.GenerationConfig`, and check
before any work that keys are set and servers answer."""

from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass, field
from typing import Any

from sweetiechat.agents.counselor import CounselorAgent, PromptedCounselor, ServedCounselor
from sweetiechat.agents.seeker import SeekerAgent
from sweetiechat.agents.supporter import FreeSupporterAgent, SupporterAgent
from sweetiechat.agents.writers import ProfileWriter, ScenarioWriter
from sweetiechat.backends.base import ChatBackend, LangChainBackend
from sweetiechat.backends.replicas import Replicated
from sweetiechat.backends.wrappers import Metered, RateLimited, Retrying, UsageLedger
from sweetiechat.config import ROLES, GenerationConfig, RoleConfig
from sweetiechat.errors import ConfigError
from sweetiechat.safety import SafetyGuard

__all__ = ["Team", "build_backend", "build_team", "check_server", "preflight"]

_NO_KEY = "not-needed"
#: Where an ``openai`` role without ``base_url`` goes (unless ``OPENAI_BASE_URL`` is set).
DEFAULT_OPENAI_URL = "https://api.openai.com/v1"


def _openai_url(base_url: str | None) -> str:
    """Where an ``openai`` role's requests go: its ``base_url``, else the environment's, else
    OpenAI's."""
    return (
        base_url
        or os.environ.get("OPENAI_BASE_URL")
        or os.environ.get("OPENAI_API_BASE")
        or DEFAULT_OPENAI_URL
    )


def _api_key(cfg: RoleConfig, role: str) -> str:
    if not cfg.api_key_env:
        return _NO_KEY
    value = os.environ.get(cfg.api_key_env)
    if not value:
        raise ConfigError(
            f"environment variable {cfg.api_key_env} is not set (needed by the {role}); "
            f'export it, or set api_key_env = "" for a server without keys'
        )
    return value


def _chat_model(cfg: RoleConfig, role: str, shared: dict[Any, Any]) -> Any:
    temperature, max_tokens = cfg.sampling()
    if cfg.backend == "embedded":
        from sweetiechat.backends.local import EMBEDDED, LocalChatModel

        key = ("embedded", cfg.model, temperature, max_tokens)
        if key not in shared:  # one instance per setting, so concurrent calls batch together
            shared[key] = LocalChatModel(
                model_path=cfg.model or EMBEDDED, temperature=temperature, max_new_tokens=max_tokens
            )
        return shared[key]
    if cfg.backend == "openai":
        from langchain_openai import ChatOpenAI
        from openai import DefaultAsyncHttpxClient
        from pydantic import SecretStr

        # A client of our own: langchain-openai's shared default is bound to the first event
        # loop, so a second run in the same process would fail with "Event loop is closed".
        # Roles that talk to the same server share one connection pool.
        pool = ("http", cfg.base_url, cfg.timeout)
        if pool not in shared:
            shared[pool] = DefaultAsyncHttpxClient(timeout=cfg.timeout)
            shared.setdefault("clients", []).append(shared[pool])
        client = shared[pool]
        return ChatOpenAI(
            http_async_client=client,
            model=cfg.model,
            base_url=cfg.base_url,
            api_key=SecretStr(_api_key(cfg, role)),
            temperature=temperature,
            max_completion_tokens=max_tokens,
            timeout=cfg.timeout,
            max_retries=0,  # sweetiechat's Retrying retries, and counts
        )
    if not cfg.provider or ":" not in cfg.provider:
        raise ConfigError(f"the {role} uses backend langchain: set provider = 'module:Class'")
    module, _, cls = cfg.provider.partition(":")
    try:
        factory = getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError) as err:
        raise ConfigError(
            f"the {role}'s provider {cfg.provider!r} cannot be imported: {err}"
        ) from None
    return factory(**cfg.provider_kwargs)


def _model_backend(cfg: RoleConfig, role: str, shared: dict[Any, Any]) -> ChatBackend:
    """The role's model as a backend, before retries, rate limits and metering."""
    if cfg.backend == "openai":
        if not cfg.model:
            raise ConfigError(f"the {role} uses backend openai but sets no model; add --model")
        if cfg.client == "direct":
            return _direct_backend(cfg, cfg.model, role, shared)
    return LangChainBackend(_chat_model(cfg, role, shared))


def _direct_backend(cfg: RoleConfig, model: str, role: str, shared: dict[Any, Any]) -> ChatBackend:
    """An ``openai`` role through the lean client (``client = "direct"``)."""
    from sweetiechat.backends.http import OpenAIHTTPBackend, http_client

    base_url = _openai_url(cfg.base_url if isinstance(cfg.base_url, str) else None)
    pool = ("direct", base_url, cfg.timeout)
    if pool not in shared:  # roles that talk to the same server share connections
        shared[pool] = http_client(cfg.timeout)
        shared.setdefault("clients", []).append(shared[pool])
    temperature, max_tokens = cfg.sampling()
    return OpenAIHTTPBackend(
        shared[pool],
        base_url=base_url,
        model=model,
        api_key=_api_key(cfg, role),
        temperature=temperature,
        max_tokens=max_tokens,
    )


def build_backend(
    cfg: RoleConfig, role: str, ledger: UsageLedger, shared: dict[Any, Any] | None = None
) -> ChatBackend:
    """A backend for ``role``: ``Metered(RateLimited(Retrying(model)))``."""
    shared = {} if shared is None else shared
    backend: ChatBackend
    urls = cfg.base_urls()
    if cfg.backend == "openai" and len(urls) > 1:  # replicas of one model, with failover

        def ejected(label: str, err: BaseException) -> None:
            ledger.failovers += 1

        backend = Replicated(
            [_model_backend(cfg.model_copy(update={"base_url": u}), role, shared) for u in urls],
            labels=[str(u) for u in urls],
            on_eject=ejected,
        )
    else:
        backend = _model_backend(cfg, role, shared)
    if cfg.backend != "embedded":
        backend = Retrying(
            backend, attempts=cfg.attempts, wait_max=cfg.wait_max, on_retry=ledger.count_retry
        )
    if cfg.requests_per_minute or cfg.tokens_per_minute:
        backend = RateLimited(
            backend,
            requests_per_minute=cfg.requests_per_minute,
            tokens_per_minute=cfg.tokens_per_minute,
        )
    return Metered(backend, ledger)


@dataclass
class Team:
    """The agents of a generation run."""

    seeker: SeekerAgent
    supporter: SupporterAgent | FreeSupporterAgent
    counselor: CounselorAgent | None
    scenario_writer: ScenarioWriter
    profile_writer: ProfileWriter
    ledger: UsageLedger
    clients: list[Any] = field(default_factory=list)
    """HTTP clients to close when the run ends."""

    async def aclose(self) -> None:
        """Close the HTTP clients the team opened."""
        for client in self.clients:
            await client.aclose()
        self.clients.clear()


def build_team(config: GenerationConfig, ledger: UsageLedger | None = None) -> Team:
    """Build every agent of ``config``; raises :class:`ConfigError` for missing keys."""
    ledger = ledger or UsageLedger(prices=config.all_prices())
    shared: dict[Any, Any] = {}
    backends = {r: build_backend(config.role(r), r, ledger, shared) for r in ROLES}
    common: dict[str, Any] = {
        "prompts_dir": config.prompts_dir,
        "window": config.window,
        "max_sentences": config.max_sentences,
    }
    guard = SafetyGuard(locale=config.crisis_locale, resources_file=config.crisis_resources)
    c = config.counselor_config()
    counselor: CounselorAgent | None
    if c.kind == "none":
        counselor = None
    elif c.kind == "likelihood":
        from sweetiechat.agents.likelihood import LikelihoodCounselor
        from sweetiechat.agents.trained import adapter_base

        base = c.model if c.backend == "embedded" and c.model else None
        counselor = LikelihoodCounselor(
            adapter_base(c.adapter, base) if c.adapter else base or "embedded",
            adapter=c.adapter,
            normalize=c.normalize,
            temperature=c.sample_temperature
            if c.sample_temperature is not None
            else (0.0 if c.adapter else 1.0),
            prompts_dir=config.prompts_dir,
            window=config.window,
        )
    elif c.kind == "classifier":
        from sweetiechat.agents.classifier import ClassifierCounselor

        if not c.folder:
            raise ConfigError("the classifier counselor needs folder = <trained folder>")
        counselor = ClassifierCounselor(c.folder)
    else:
        backend = build_backend(c, "counselor", ledger, shared)
        if c.kind == "served":
            counselor = ServedCounselor(
                backend, mode=c.mode, prompts_dir=config.prompts_dir, window=config.window
            )
        else:
            counselor = PromptedCounselor(
                backend, prompts_dir=config.prompts_dir, window=config.window
            )
    supporter: SupporterAgent | FreeSupporterAgent
    if counselor is None:
        supporter = FreeSupporterAgent(backends["supporter"], safety=guard, **common)
    else:
        supporter = SupporterAgent(backends["supporter"], safety=guard, **common)
    seeker = SeekerAgent(backends["seeker"], **common)
    if config.enforcement.strategy or config.enforcement.role:  # the hook into quality
        from sweetiechat.quality.enforce import enforce_roles

        seeker, supporter = enforce_roles(
            config.enforcement, seeker, supporter, free=counselor is None,
            llm=backends["seeker"],
        )  # fmt: skip
    return Team(
        seeker=seeker,
        supporter=supporter,
        counselor=counselor,
        scenario_writer=ScenarioWriter(backends["scenario_writer"], **common),
        profile_writer=ProfileWriter(backends["profile_writer"], **common),
        ledger=ledger,
        clients=shared.get("clients", []),
    )


def check_server(
    cfg: RoleConfig, role: str, timeout: float = 5.0, checked: set[str] | None = None
) -> None:
    """For an ``openai`` role: its key is set, and its server (or one of its replicas)
    answers and accepts the key. Without ``base_url``, the OpenAI client's own default is
    checked the same way, so a bad network or key fails now and names the URL, not after a
    minute of retries. URLs in ``checked`` are skipped, and the checked ones added.

    Raises:
        ConfigError: one line naming the role, the URL and what to do.
    """
    import httpx

    checked = set() if checked is None else checked
    key = _api_key(cfg, role)
    urls = [_openai_url(u) for u in cfg.base_urls()]
    if all(u in checked for u in urls):
        return
    checked.update(urls)
    failures = []
    for base_url in urls:
        try:
            response = httpx.get(
                base_url.rstrip("/") + "/models",
                timeout=timeout,
                headers={"Authorization": f"Bearer {key}"},
            )
        except httpx.HTTPError as err:
            failures.append(f"{base_url} ({type(err).__name__})")
            continue
        if response.status_code in (401, 403):
            raise ConfigError(
                f"{base_url} rejected the key in {cfg.api_key_env} (the {role}); check the variable"
            )
    if len(failures) == len(urls):  # of several replicas, one that answers is enough
        what = "base URL" if cfg.base_url else "default OpenAI endpoint"
        if len(urls) > 1:
            what = "replicas"
        raise ConfigError(
            f"cannot reach {', '.join(failures)} (the {role}'s {what}); "
            "check the URL, the network and that the server is running"
        )


def preflight(config: GenerationConfig, timeout: float = 5.0) -> None:
    """Fail fast, before any work: keys set, OpenAI-compatible servers reachable, the
    embedded model installed.

    Raises:
        ConfigError: one line saying which role, what is wrong and what to do.
    """
    from sweetiechat.backends.local import embedded_model_dir, require_local

    SafetyGuard(locale=config.crisis_locale, resources_file=config.crisis_resources)  # file ok
    checked: set[str] = set()
    uses_embedded = False
    roles = [(r, config.role(r)) for r in ROLES]
    c = config.counselor_config()
    if c.kind in ("served", "prompted"):
        roles.append(("counselor", c))
    for role, cfg in roles:
        if cfg.backend == "openai":
            check_server(cfg, role, timeout, checked)
        elif cfg.backend == "embedded":
            uses_embedded = uses_embedded or not cfg.model
            require_local()
    if c.kind == "likelihood" and c.adapter:
        from sweetiechat.agents.trained import adapter_base

        own = c.model if c.backend == "embedded" and c.model else None
        uses_embedded = uses_embedded or adapter_base(c.adapter, own) == "embedded"
        require_local()
    elif c.kind == "likelihood":
        uses_embedded = uses_embedded or c.backend != "embedded" or not c.model
        require_local()
    if c.kind == "classifier":
        from sweetiechat.agents.classifier import ClassifierCounselor

        if not c.folder:
            raise ConfigError("the classifier counselor needs folder = <trained folder>")
        missing = [m for m in ("torch", "transformers") if not importlib.util.find_spec(m)]
        if missing:
            raise ConfigError(
                f"the classifier counselor needs {', '.join(missing)}: "
                "pip install 'sweetiechat[train]' (torch first, see the README)"
            )
        ClassifierCounselor(c.folder)  # reads the folder's counselor.json
    if uses_embedded:
        embedded_model_dir()  # converts the GGUF file once, before the run starts
