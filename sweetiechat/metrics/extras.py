"""Checks that the ``metrics`` extra is installed, before any work starts.

On a core install (``pip install sweetiechat``) the commands that need the extra fail at once
with one line saying what to install, instead of a traceback halfway through.

>>> require({"json": "json"}, "this")  # present: nothing happens
>>> require({"no_such_module_xyz": "xyz-dist"}, "score")
Traceback (most recent call last):
...
sweetiechat.errors.ConfigError: score needs xyz-dist: pip install 'sweetiechat[metrics]'
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Mapping

from sweetiechat.errors import ConfigError

__all__ = ["INSTALL", "TOKENIZER_MODULES", "require", "require_all", "require_tokenizer"]

#: The command that installs everything the metrics need.
INSTALL = "pip install 'sweetiechat[metrics]'"

#: Import name -> distribution name, per tokenizer.
TOKENIZER_MODULES: dict[str, dict[str, str]] = {"llama3": {"quicktok": "quicktok-v1"}}


def _missing(modules: Mapping[str, str]) -> list[str]:
    missing = []
    for module, dist in modules.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(dist)
    return missing


def require(modules: Mapping[str, str], what: str, install: str = INSTALL) -> None:
    """Raise :class:`ConfigError` naming ``what``, the missing distributions and ``install``.

    Args:
        modules: top-level import name -> distribution name.
        what: the command or metric that needs them, for the message.
        install: the command to print.
    """
    missing = _missing(modules)
    if missing:
        raise ConfigError(f"{what} needs {', '.join(missing)}: {install}")


def require_tokenizer(name: str, what: str) -> None:
    """:func:`require` the packages of tokenizer ``name`` (none for ``word``/``whitespace``)."""
    modules: dict[str, str] = TOKENIZER_MODULES.get(name, {})
    require(modules, f"{what} with the {name} tokenizer", f"{INSTALL}, or pass --tokenizer word")


def require_all(groups: Iterable[Mapping[str, str]], what: str) -> None:
    """:func:`require` the union of several module maps."""
    merged: dict[str, str] = {}
    for g in groups:
        merged.update(g)
    require(merged, what)
