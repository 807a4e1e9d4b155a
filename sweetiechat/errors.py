"""The base class of the mistakes a user can make; the CLI reports them in one line."""

from __future__ import annotations

__all__ = ["ConfigError", "UserError"]


class UserError(Exception):
    """An expected mistake (bad file, bad flag, bad config): the CLI prints ``str(err)`` on one
    line, without a traceback, and exits with status 2."""


class ConfigError(UserError, ValueError):
    """A configuration that cannot work: names the file or flag and what to change."""
