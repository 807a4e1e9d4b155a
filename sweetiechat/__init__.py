"""sweetiechat: strategy-guided role-play for building emotional-support agents.

Importing the package is cheap: it loads the taxonomy, the data model and JSONL I/O only.
The roles, the conversation loop, backends, generation and metrics are exported here too,
but lazily (PEP 562): ``from sweetiechat import Conversation, SeekerAgent`` imports their
modules on first use, and never torch, transformers or langchain_openai until a model needs
them.

>>> from sweetiechat import Conversation, SeekerAgent, SupporterAgent, PromptedCounselor
>>> Conversation.__module__
'sweetiechat.conversation'
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from sweetiechat._version import __version__
from sweetiechat.errors import ConfigError, UserError
from sweetiechat.io import DataError, JsonlWriter, read_dialogues, write_dialogues
from sweetiechat.taxonomy import (
    PROBLEM_TYPE_WEIGHTS,
    ProblemType,
    Strategy,
    UnknownLabelError,
    parse_problem_type,
    parse_strategy,
)
from sweetiechat.types import Dialogue, DialogueMeta, Scenario, SeekerProfile, Turn, Usage

if TYPE_CHECKING:  # what the lazy names below resolve to, for type checkers and editors
    from sweetiechat.agents import (
        AgentError,
        Counselor,
        CounselorAgent,
        FreeSupporter,
        FreeSupporterAgent,
        HumanSeeker,
        LikelihoodCounselor,
        ProfileWriter,
        PromptedCounselor,
        ScenarioWriter,
        ScriptedSeeker,
        Seeker,
        SeekerAgent,
        SeekerReply,
        ServedCounselor,
        StrategyChoice,
        Supporter,
        SupporterAgent,
    )
    from sweetiechat.backends import (
        ChatBackend,
        Completion,
        LangChainBackend,
        Metered,
        RateLimited,
        Retrying,
        UsageLedger,
        as_backend,
    )
    from sweetiechat.chat import ChatSession, open_chat
    from sweetiechat.config import GenerationConfig, RoleConfig, load_config
    from sweetiechat.conversation import Conversation, Episode
    from sweetiechat.generate import agenerate_dialogues, generate_dialogues
    from sweetiechat.metrics.stats import compute_stats
    from sweetiechat.testing import OpenAITestServer
    from sweetiechat.tokenizers import get_tokenizer

#: Public name -> the module that defines it, imported on first access.
_LAZY: dict[str, str] = {
    **dict.fromkeys(
        [
            "AgentError",
            "Counselor",
            "CounselorAgent",
            "FreeSupporter",
            "FreeSupporterAgent",
            "HumanSeeker",
            "LikelihoodCounselor",
            "ProfileWriter",
            "PromptedCounselor",
            "ScenarioWriter",
            "ScriptedSeeker",
            "Seeker",
            "SeekerAgent",
            "SeekerReply",
            "ServedCounselor",
            "StrategyChoice",
            "Supporter",
            "SupporterAgent",
        ],
        "sweetiechat.agents",
    ),
    **dict.fromkeys(
        [
            "ChatBackend",
            "Completion",
            "LangChainBackend",
            "Metered",
            "RateLimited",
            "Retrying",
            "UsageLedger",
            "as_backend",
        ],
        "sweetiechat.backends",
    ),
    **dict.fromkeys(["GenerationConfig", "RoleConfig", "load_config"], "sweetiechat.config"),
    "Conversation": "sweetiechat.conversation",
    "Episode": "sweetiechat.conversation",
    "ChatSession": "sweetiechat.chat",
    "open_chat": "sweetiechat.chat",
    "agenerate_dialogues": "sweetiechat.generate",
    "generate_dialogues": "sweetiechat.generate",
    "compute_stats": "sweetiechat.metrics.stats",
    "OpenAITestServer": "sweetiechat.testing",
    "get_tokenizer": "sweetiechat.tokenizers",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sweetiechat' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later accesses skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "PROBLEM_TYPE_WEIGHTS",
    "AgentError",
    "ChatBackend",
    "ChatSession",
    "Completion",
    "ConfigError",
    "Conversation",
    "Counselor",
    "CounselorAgent",
    "DataError",
    "Dialogue",
    "DialogueMeta",
    "Episode",
    "FreeSupporter",
    "FreeSupporterAgent",
    "GenerationConfig",
    "HumanSeeker",
    "JsonlWriter",
    "LangChainBackend",
    "LikelihoodCounselor",
    "Metered",
    "OpenAITestServer",
    "ProblemType",
    "ProfileWriter",
    "PromptedCounselor",
    "RateLimited",
    "Retrying",
    "RoleConfig",
    "Scenario",
    "ScenarioWriter",
    "ScriptedSeeker",
    "Seeker",
    "SeekerAgent",
    "SeekerProfile",
    "SeekerReply",
    "ServedCounselor",
    "Strategy",
    "StrategyChoice",
    "Supporter",
    "SupporterAgent",
    "Turn",
    "UnknownLabelError",
    "Usage",
    "UsageLedger",
    "UserError",
    "__version__",
    "agenerate_dialogues",
    "as_backend",
    "compute_stats",
    "generate_dialogues",
    "get_tokenizer",
    "load_config",
    "open_chat",
    "parse_problem_type",
    "parse_strategy",
    "read_dialogues",
    "write_dialogues",
]
