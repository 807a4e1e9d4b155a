"""The base class of the mistakes a user can make; the CLI reports them in one line."""

from __future__ import annotations

from pydantic import ValidationError

__all__ = ["AgentError", "ConfigError", "UserError", "first_problem"]


class UserError(Exception):
    """An expected mistake (bad file, bad flag, bad config): the CLI prints ``str(err)`` on one
    line, without a traceback, and exits with status 2."""


class ConfigError(UserError, ValueError):
    """A configuration that cannot work: names the file or flag and what to change."""


def first_problem(err: ValidationError, where: str) -> tuple[str, str]:
    """(dotted field, message) of a pydantic error's first problem; ``where`` names the
    whole object when the error has no field. The message ends with "(and N more)"."""
    first = err.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or where
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return field, first["msg"].removeprefix("Value error, ") + more


class AgentError(RuntimeError):
    """A role's model call failed: says which role and model, keeps the cause.

    ``status_code`` is the cause's HTTP status (when it has one), so a rejected key (401) is
    still recognised as fatal by the generator.
    """

    def __init__(self, role: str, name: str, cause: BaseException) -> None:
        self.role = role
        self.name = name
        self.status_code = getattr(cause, "status_code", None)
        super().__init__(f"the {role} ({name}) failed: {type(cause).__name__}: {cause}")
