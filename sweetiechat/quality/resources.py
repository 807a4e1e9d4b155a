"""Crisis resources per locale: the crisis line, the emergency number and a text line.

The default file ships with sweetiechat (``sweetiechat/data/crisis_resources.json``: United
States, United Kingdom, Ireland, Canada, Australia, New Zealand); pass your own file with the
same shape to add or correct locales. Numbers are never guessed: an unknown locale is an error.

>>> r = load_resources(locale="en-GB")
>>> r.crisis_line.contact, r.emergency
('call 116 123', '999')
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources as importlib_resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sweetiechat.errors import ConfigError, first_problem

__all__ = ["CrisisResources", "Line", "ResourceFile", "load_resources", "resource_line"]


class Line(BaseModel):
    """A service people can reach."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    """What it is called, e.g. ``"Samaritans"``."""
    contact: str = Field(min_length=1)
    """How to reach it, e.g. ``"call 116 123"`` or ``"text HOME to 741741"``."""


class CrisisResources(BaseModel):
    """One locale's crisis resources."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    country: str = Field(min_length=1)
    """The country the numbers work in."""
    crisis_line: Line
    """The suicide / crisis line."""
    emergency: str = Field(min_length=1)
    """The emergency number."""
    text_line: Line | None = None
    """A crisis text line, where one exists."""


class ResourceFile(BaseModel):
    """The file: a default locale and the locales it knows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default_locale: str
    """The locale used when none is asked for."""
    locales: dict[str, CrisisResources] = Field(min_length=1)
    """Locale tag (``en-US``) -> its resources."""


def _read(path: Path | None) -> tuple[ResourceFile, str]:
    if path is None:
        where = "sweetiechat/data/crisis_resources.json"
        text = (importlib_resources.files("sweetiechat") / "data/crisis_resources.json").read_text()
    else:
        where = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(
                f"{where}: cannot read the crisis resources file as UTF-8 text ({err})"
            ) from err
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(
            f"{where}:{err.lineno}: not valid JSON ({err.msg}); see docs/safety.md for the format"
        ) from err
    try:
        parsed = ResourceFile.model_validate(data)
    except ValidationError as err:
        field, msg = first_problem(err, "file")
        raise ConfigError(f"{where}: field {field}: {msg}; see docs/safety.md") from err
    if parsed.default_locale not in parsed.locales:
        raise ConfigError(f"{where}: default_locale {parsed.default_locale!r} is not in locales")
    return parsed, where


@lru_cache(maxsize=16)
def _cached(path: str | None) -> tuple[ResourceFile, str]:
    return _read(Path(path) if path else None)


def load_resources(path: str | Path | None = None, locale: str | None = None) -> CrisisResources:
    """The crisis resources of ``locale`` (default: the file's ``default_locale``).

    Raises:
        ConfigError: the file is unreadable or malformed, or does not know ``locale``.
    """
    parsed, where = _cached(str(path) if path else None)
    key = locale or parsed.default_locale
    found = parsed.locales.get(key) or next(
        (v for k, v in parsed.locales.items() if k.lower() == key.replace("_", "-").lower()),
        None,
    )
    if found is None:
        known = ", ".join(sorted(parsed.locales))
        raise ConfigError(
            f"{where}: no crisis resources for locale {key!r} (known: {known}); add it to a "
            "resources file with real, verified numbers"
        )
    return found


def resource_line(r: CrisisResources) -> str:
    """One sentence naming the resources, for prompts and templates."""
    parts = [f"{r.crisis_line.name} ({r.crisis_line.contact})"]
    if r.text_line:
        parts.append(f"{r.text_line.name} ({r.text_line.contact})")
    return f"{' or '.join(parts)}, or the emergency number {r.emergency} if you are in danger now"
