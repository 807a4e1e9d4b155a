"""Prompt templates, shipped as package data and overridable.

A template file has a system part and a user part separated by a line ``---user---``;
``{name}`` fields are filled by the agent. Override one by passing ``prompt=`` to an agent
(``PromptTemplate.from_file(path)`` or ``PromptTemplate(system=..., user=...)``), or every
one at once with a folder of files of the same names (``load_prompt(name, folder)``).

>>> t = PromptTemplate(system="You help with {topic}.", user="{question}")
>>> t.render(topic="sleep", question="Why can't I sleep?")
[('system', 'You help with sleep.'), ('user', "Why can't I sleep?")]
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from sweetiechat.errors import ConfigError

__all__ = ["PROMPT_NAMES", "PromptTemplate", "load_prompt"]

SEPARATOR = "---user---"
PROMPT_NAMES = (
    "seeker",
    "supporter",
    "supporter_free",
    "counselor",
    "scenario_writer",
    "profile_writer",
)


@dataclass(frozen=True)
class PromptTemplate:
    """A system and a user message template with ``{field}`` placeholders."""

    system: str
    user: str
    source: str = "<inline>"

    @classmethod
    def from_text(cls, text: str, source: str = "<inline>") -> PromptTemplate:
        """Parse ``system ---user--- user`` text."""
        if SEPARATOR not in text:
            raise ConfigError(f"{source}: a prompt needs a line '{SEPARATOR}' between parts")
        system, user = text.split(SEPARATOR, 1)
        return cls(system=system.strip(), user=user.strip(), source=source)

    @classmethod
    def from_file(cls, path: str | Path) -> PromptTemplate:
        """Read a template file."""
        path = Path(path)
        return cls.from_text(path.read_text(encoding="utf-8"), source=str(path))

    @property
    def fields(self) -> set[str]:
        """The placeholder names the template uses."""
        out = set()
        for part in (self.system, self.user):
            out |= {f for _, f, _, _ in string.Formatter().parse(part) if f}
        return out

    def render(self, **values: object) -> list[tuple[str, str]]:
        """Fill the placeholders; a missing value is a :class:`ConfigError` naming it."""
        missing = self.fields - set(values)
        if missing:
            raise ConfigError(f"{self.source}: no value for placeholder(s) {sorted(missing)}")
        return [
            ("system", self.system.format(**values)),
            ("user", self.user.format(**values)),
        ]


def load_prompt(name: str, folder: str | Path | None = None) -> PromptTemplate:
    """The template ``name`` from ``folder`` if it has ``name.txt``, else the built-in one."""
    if name not in PROMPT_NAMES:
        raise ConfigError(f"unknown prompt {name!r}; choose one of {', '.join(PROMPT_NAMES)}")
    if folder is not None and (Path(folder) / f"{name}.txt").is_file():
        return PromptTemplate.from_file(Path(folder) / f"{name}.txt")
    text = files("sweetiechat.prompts").joinpath(f"{name}.txt").read_text(encoding="utf-8")
    return PromptTemplate.from_text(text, source=f"sweetiechat/prompts/{name}.txt")
