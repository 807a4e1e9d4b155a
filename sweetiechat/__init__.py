"""sweetiechat: strategy-guided role-play for building emotional-support agents.

Importing the package is cheap: it loads the taxonomy, the data model and JSONL I/O only.
Backends, agents and metrics live in submodules and import their heavy dependencies lazily.
"""

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

__all__ = [
    "PROBLEM_TYPE_WEIGHTS",
    "ConfigError",
    "DataError",
    "Dialogue",
    "DialogueMeta",
    "JsonlWriter",
    "ProblemType",
    "Scenario",
    "SeekerProfile",
    "Strategy",
    "Turn",
    "UnknownLabelError",
    "Usage",
    "UserError",
    "__version__",
    "parse_problem_type",
    "parse_strategy",
    "read_dialogues",
    "write_dialogues",
]
