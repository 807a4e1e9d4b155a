"""The generation config: one TOML or YAML file, validated by pydantic; CLI flags override it.

```toml
concurrency = 16
seed = 7

[defaults]                       # every role, unless a role overrides it
backend = "openai"               # embedded | openai | langchain
model = "gpt-4o-mini"
api_key_env = "OPENAI_API_KEY"   # the variable's NAME; the key itself never goes here
requests_per_minute = 500

[roles.seeker]
temperature = 0.9

[counselor]
kind = "served"                  # likelihood | served | prompted | none
base_url = "http://127.0.0.1:8000/v1"
model = "counselor"              # the LoRA adapter's name in vLLM
api_key_env = ""                 # no key
```
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from sweetiechat.errors import ConfigError, first_problem
from sweetiechat.prompts import PROMPT_NAMES, load_prompt
from sweetiechat.taxonomy import ProblemType, UnknownLabelError, parse_problem_type

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: Setting names that hold secrets: ``api_key``, ``access_token``, ``client_secret`` ... but not
#: ``max_tokens`` or ``tokens_per_minute`` (settings, not secrets) or ``api_key_env`` (a name).
_SECRET_NAME = re.compile(
    r"(^|[_-])(api[_-]?key|key|secret|password|passwd|token|auth|authorization|bearer|"
    r"credentials?|cookie)($|[_-])",
    re.IGNORECASE,
)
#: Values that look like keys wherever they appear (``sk-...``, ``Bearer ...``), and
#: credentials inside URLs (``https://user:pass@host``, ``?api-key=...``).
_SECRET_VALUE = re.compile(
    r"((sk|pk|rk|key|hf|gsk|xai)[-_][A-Za-z0-9_\-*]{6,}|Bearer\s+\S+"
    r"|(?<=://)[^/@\s]+:[^/@\s]+(?=@)|(?<=[?&])(api[-_]?key|key|token|access_token)=[^&\s]+)",
    re.IGNORECASE,
)

#: Role settings that say where and how fast a model is reached, not what it generates: they
#: may change between a run and its resume.
OPERATIONAL_ROLE_FIELDS = frozenset(
    {
        "base_url",
        "client",
        "api_key_env",
        "timeout",
        "attempts",
        "wait_max",
        "requests_per_minute",
        "tokens_per_minute",
    }
)
#: Run settings that may change between a run and its resume (speed, accounting, retries).
OPERATIONAL_RUN_FIELDS = frozenset({"concurrency", "prices", "dialogue_attempts"})

__all__ = [
    "ROLES",
    "CounselorConfig",
    "EnforcementConfig",
    "GenerationConfig",
    "RoleConfig",
    "load_config",
    "signature_changes",
]

ROLES = ("seeker", "supporter", "scenario_writer", "profile_writer")

#: US dollars per million (prompt, completion) tokens; override or extend with ``[prices]``.
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-3.5-turbo": (0.50, 1.50),
}


class RoleConfig(BaseModel):
    """How one role reaches its model. Unset fields fall back to ``[defaults]``."""

    def sampling(self) -> tuple[float, int]:
        """(temperature, max_tokens), with the backend's defaults filled in."""
        embedded = self.backend == "embedded"
        temperature = (
            self.temperature if self.temperature is not None else (0.5 if embedded else 0.7)
        )
        max_tokens = self.max_tokens if self.max_tokens is not None else (64 if embedded else 150)
        return temperature, max_tokens

    model_config = ConfigDict(extra="forbid")

    backend: Literal["embedded", "openai", "langchain"] = "embedded"
    """``embedded`` (SmolLM2, offline), ``openai`` (OpenAI or any OpenAI-compatible server:
    vLLM, llama.cpp, Ollama), or ``langchain`` (any LangChain chat model class)."""
    client: Literal["langchain", "direct"] = "langchain"
    """For ``openai``: ``langchain`` sends requests through ``ChatOpenAI``; ``direct`` through
    sweetiechat's lean httpx client (:mod:`sweetiechat.backends.http`), which spends a
    fraction of the client CPU per call: use it for large runs at high concurrency."""
    model: str | None = None
    """Model name; for ``embedded`` a local checkpoint folder (default: SmolLM2)."""
    base_url: str | list[str] | None = None
    """An OpenAI-compatible server's URL, e.g. ``http://127.0.0.1:8000/v1``; or a list of
    URLs, several replicas of the same model: each request goes to the one with the fewest
    requests in flight, and one that fails is taken out for a while (see
    :class:`~sweetiechat.backends.replicas.Replicated`)."""
    api_key_env: str = "OPENAI_API_KEY"
    """The environment variable holding the key; ``""`` for servers without keys."""
    provider: str | None = None
    """For ``langchain``: ``"module:Class"``, e.g. ``"langchain_ollama:ChatOllama"``."""
    provider_kwargs: dict[str, Any] = Field(default_factory=dict)
    """For ``langchain``: keyword arguments of that class (no secrets: use env variables)."""
    temperature: float | None = None
    """Sampling temperature (default: 0.7 for servers, 0.5 for the embedded model)."""
    max_tokens: int | None = None
    """Longest answer in tokens (default: 150 for servers, 64 for the embedded model)."""
    timeout: float = 60.0
    """Seconds before a request is abandoned (and retried)."""
    attempts: int = Field(default=6, ge=1)
    """Tries per request for transient failures."""
    wait_max: float = 30.0
    """Longest backoff between tries (also caps ``Retry-After``)."""
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None

    @field_validator("base_url")
    @classmethod
    def _replicas(cls, v: str | list[str] | None) -> str | list[str] | None:
        if isinstance(v, list):
            if not v:
                raise ValueError("base_url is an empty list; give one URL, or the replicas' URLs")
            if len(set(v)) != len(v):
                raise ValueError("base_url lists the same URL twice")
            return v[0] if len(v) == 1 else v
        return v

    def base_urls(self) -> list[str | None]:
        """The replicas' URLs (one ``None`` for the provider's default endpoint)."""
        return list(self.base_url) if isinstance(self.base_url, list) else [self.base_url]


class CounselorConfig(RoleConfig):
    """The counselor: a role config plus the kind of counselor."""

    kind: Literal["likelihood", "served", "prompted", "classifier", "none"] = "likelihood"
    """``likelihood`` (local LM scores the 8 names), ``served`` (vLLM LoRA endpoint),
    ``prompted`` (a chat model asked to choose), ``classifier`` (a trained encoder
    classifier) or ``none`` (the supporter picks)."""
    adapter: str | None = None
    """For ``likelihood``: a LoRA adapter folder (the trained counselor)."""
    folder: str | None = None
    """For ``classifier``: the folder written by ``sweetiechat counselor train --kind
    classifier``."""
    mode: Literal["choice", "logprobs"] = "choice"
    """For ``served``: constrained choice or first-token ``top_logprobs``."""
    normalize: Literal["sum", "mean"] = "sum"
    """For ``likelihood``: joint log-likelihood (paper) or per-token mean."""
    sample_temperature: float | None = None
    """For ``likelihood``: 0 takes the argmax (the paper); above 0 samples. Default: 0 with
    an adapter, 1.0 without one (an untrained model's argmax is nearly always one name)."""


class EnforcementConfig(BaseModel):
    """Enforcement during generation (docs/quality.md): regenerate a supporter turn whose
    recognized strategy is not the assigned one, or a seeker turn that slides into the
    supporter's role, up to ``tries`` attempts in all."""

    model_config = ConfigDict(extra="forbid")

    strategy: bool = False
    """Check each supporter turn with the strategy recognizer."""
    role: bool = False
    """Check each seeker turn with the role detector."""
    tries: int = Field(default=3, ge=1, le=20)
    """Attempts per checked turn in all; the best one is kept when all are rejected."""
    recognizer: str | None = None
    """The strategy recognizer folder (``sweetiechat quality train-recognizer``); default: the
    frozen one shipped in the package."""
    role_detector: str | None = None
    """A role-detector folder; default: the one shipped in the package."""
    role_threshold: float | None = Field(default=None, gt=0, lt=1)
    """Flag a seeker turn from this P(supporter) on; default: the detector's own."""
    role_llm_check: bool = False
    """Ask the seeker's model to confirm each flagged seeker turn."""


class GenerationConfig(BaseModel):
    """Everything ``sweetiechat generate`` needs besides ``-n`` and ``-o``."""

    model_config = ConfigDict(extra="forbid")

    defaults: RoleConfig = Field(default_factory=RoleConfig)
    roles: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Per-role overrides of ``defaults`` (keys: seeker, supporter, scenario_writer,
    profile_writer)."""
    counselor: dict[str, Any] = Field(default_factory=dict)
    """Counselor settings (see :class:`CounselorConfig`); unset fields come from defaults."""
    concurrency: int = Field(default=4, ge=1)
    seed: int = 0
    max_seeker_turns: int = Field(default=10, ge=1)
    min_seeker_turns: int = Field(default=3, ge=1)
    window: int = Field(default=6, ge=1)
    max_sentences: int = Field(default=3, ge=1)
    dialogue_attempts: int = Field(default=3, ge=1)
    """Tries per dialogue before it is reported as failed."""
    problem_types: dict[str, float] | None = None
    """Sampling weights by problem type; default: the original dataset's mix."""
    seed_dialogues: str | None = None
    """ESConv train split (or any dialogue file) for seed pool S; default: built-in seeds."""
    seed_pools: str | None = None
    """A run folder (``OUT.jsonl.run``) or a folder with ``pool_scenarios.jsonl`` and
    ``pool_profiles.jsonl``: the starting pools S and C, instead of ``seed_dialogues`` and
    the built-ins. Give every shard of a run the same one."""
    prompts_dir: str | None = None
    """A folder of prompt files overriding the built-in ones."""
    crisis_locale: str | None = None
    """Whose crisis lines the supporter points to when a seeker is at risk, e.g. ``"en-GB"``
    (default: the resources file's default, US). See docs/safety.md."""
    crisis_resources: str | None = None
    """A crisis-resources JSON file of the shipped file's shape (default: the shipped one)."""
    prices: dict[str, tuple[float, float]] = Field(default_factory=dict)
    enforcement: EnforcementConfig = Field(default_factory=EnforcementConfig)
    """Regenerate turns a checker rejects (see :class:`EnforcementConfig`)."""

    @model_validator(mode="after")
    def _check(self) -> GenerationConfig:
        unknown = set(self.roles) - set(ROLES)
        if unknown:
            raise ValueError(f"unknown role(s) {sorted(unknown)}; roles are {', '.join(ROLES)}")
        if self.min_seeker_turns > self.max_seeker_turns:
            raise ValueError("min_seeker_turns is larger than max_seeker_turns")
        for role in ROLES:
            self.role(role)
        self.counselor_config()
        self.weights()
        return self

    def role(self, name: str) -> RoleConfig:
        """The effective config of ``name``: defaults updated by its overrides."""
        merged = {**self.defaults.model_dump(exclude_unset=True), **self.roles.get(name, {})}
        return RoleConfig.model_validate(merged)

    def counselor_config(self) -> CounselorConfig:
        """The effective counselor config. Without a ``kind``, the counselor is a
        ``likelihood`` one on the embedded model when the roles run embedded, and a
        ``prompted`` one on the roles' server otherwise."""
        merged = {**self.defaults.model_dump(exclude_unset=True), **self.counselor}
        if "kind" not in self.counselor:
            merged["kind"] = (
                "likelihood" if merged.get("backend", "embedded") == "embedded" else "prompted"
            )
        return CounselorConfig.model_validate(merged)

    def weights(self) -> dict[ProblemType, float] | None:
        """Problem-type weights, parsed (``None``: the default mix)."""
        if self.problem_types is None:
            return None
        try:
            return {parse_problem_type(k): float(v) for k, v in self.problem_types.items()}
        except UnknownLabelError as err:
            raise ValueError(str(err)) from None

    def all_prices(self) -> dict[str, tuple[float, float]]:
        """Built-in prices updated with the config's."""
        return {**DEFAULT_PRICES, **self.prices}

    def signature(self) -> dict[str, Any]:
        """Every setting of the run, for ``run.json`` (provenance). Key variables are names
        only, and any ``provider_kwargs`` entry named like a secret (``api_key``,
        ``access_token``, ``password`` ...) is replaced by ``"[redacted]"``."""
        return _scrub(json.loads(self.model_dump_json(exclude={"concurrency"})))

    def data_signature(self) -> dict[str, Any]:
        """The settings that shape the data, resolved per role: what a resumed run must share
        with the run it continues.

        It holds each role's and the counselor's effective model, sampling and kind, the
        problem-type mix, the turn limits, the seed pool, and a hash of every prompt's text.
        It leaves out what only changes speed or accounting: concurrency, rate limits,
        timeouts, retries, prices, and where a model is served (``base_url``).
        """

        def role_data(cfg: RoleConfig) -> dict[str, Any]:
            temperature, max_tokens = cfg.sampling()
            data = json.loads(cfg.model_dump_json(exclude=set(OPERATIONAL_ROLE_FIELDS)))
            data.update(temperature=temperature, max_tokens=max_tokens)
            return _scrub(data)

        top = json.loads(
            self.model_dump_json(
                exclude={
                    *OPERATIONAL_RUN_FIELDS,
                    "defaults",
                    "roles",
                    "counselor",
                    "prompts_dir",
                    "enforcement",
                }
            )
        )
        if self.enforcement.strategy or self.enforcement.role:  # off: as before it existed
            top["enforcement"] = self.enforcement.model_dump(mode="json")
        prompts = {}
        for name in PROMPT_NAMES:
            text = load_prompt(name, self.prompts_dir)
            digest = hashlib.sha256(f"{text.system}\n---\n{text.user}".encode()).hexdigest()
            prompts[name] = digest[:16]
        return {
            **top,
            "roles": {role: role_data(self.role(role)) for role in ROLES},
            "counselor": role_data(self.counselor_config()),
            "prompts": prompts,
        }


def _scrub(node: Any) -> Any:
    """``node`` with the values of secret-named keys (``api_key``, ``Authorization``,
    ``x-api-key`` ...) replaced by ``"[redacted]"``, and key-like text in other values too."""
    if isinstance(node, dict):
        return {
            k: "[redacted]" if _SECRET_NAME.search(str(k)) and k != "api_key_env" else _scrub(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_scrub(v) for v in node]
    return _SECRET_VALUE.sub("[redacted]", node) if isinstance(node, str) else node


def signature_changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The settings that differ between two :meth:`GenerationConfig.data_signature` dicts,
    as ``"roles.seeker.model: 'a' -> 'b'"`` lines, in a stable order.

    >>> signature_changes({"seed": 1, "roles": {"seeker": {"model": "a"}}},
    ...                   {"seed": 1, "roles": {"seeker": {"model": "b"}}})
    ["roles.seeker.model: 'a' -> 'b'"]
    """

    def flat(node: Any, prefix: str = "") -> dict[str, Any]:
        if isinstance(node, dict):
            out: dict[str, Any] = {}
            for key, value in node.items():
                out.update(flat(value, f"{prefix}{key}."))
            return out
        return {prefix.rstrip("."): node}

    old, new = flat(before), flat(after)
    missing = object()
    changes = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, missing), new.get(key, missing)
        if a != b:
            shown_a = "(unset)" if a is missing else repr(a)
            shown_b = "(unset)" if b is missing else repr(b)
            changes.append(f"{key}: {shown_a} -> {shown_b}")
    return changes


def _explain(err: ValidationError) -> str:
    field, message = first_problem(err, "")
    return f"{field}: {message}" if field else message


def load_config(path: str | Path | None, **overrides: Any) -> GenerationConfig:
    """Read a TOML or YAML config (or none), apply ``overrides`` (non-``None`` values) on top.

    Raises:
        ConfigError: the file is missing, unreadable or invalid; the message names the field.
    """
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: no such config file")
        text = path.read_text(encoding="utf-8")
        try:
            if path.suffix in (".yaml", ".yml"):
                import yaml

                data = yaml.safe_load(text) or {}
            else:
                data = tomllib.loads(text)
        except Exception as err:  # both parsers' errors say where
            raise ConfigError(f"{path}: cannot parse ({err})".replace("\n", " ")) from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a table of settings")
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return GenerationConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(
            f"{path}: {_explain(err)}" if path is not None else _explain(err)
        ) from None
