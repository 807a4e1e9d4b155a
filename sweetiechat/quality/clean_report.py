"""The settings file and the report of ``sweetiechat clean``: the TOML ``[clean]`` section,
``report.json`` and the bar plot of reasons."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sweetiechat.errors import ConfigError, first_problem
from sweetiechat.quality.clean import CleanReport, write_json
from sweetiechat.quality.filters import REASONS, CleanConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["FLAGS", "build_config", "plot_reasons", "write_report"]

#: Setting -> the command-line flag that sets it (for error messages).
FLAGS = {
    "disable": "--disable",
    "min_turns": "--min-turns",
    "max_turns": "--max-turns",
    "max_sentences": "--max-sentences",
    "scenario_threshold": "--scenario-threshold",
    "dup_threshold": "--dup-threshold",
    "role_threshold": "--role-threshold",
    "unsafe_semantic": "--semantic-safety/--no-semantic-safety",
}


def build_config(toml_path: Path | None, overrides: dict[str, Any]) -> CleanConfig:
    """Settings from the ``[clean]`` section of ``toml_path`` (if any), then the flags in
    ``overrides`` (``None`` values are left out).

    Raises:
        ConfigError: an unreadable file, an unknown key, or a value out of range, in one line
            naming the flag or the file and key.
    """
    data: dict[str, Any] = {}
    if toml_path is not None:
        try:
            text = toml_path.read_text(encoding="utf-8")
            section = tomllib.loads(text).get("clean", {})
        except OSError as err:
            raise ConfigError(f"{toml_path}: cannot read it ({err.strerror})") from None
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{toml_path}: not valid TOML ({err})") from None
        if not isinstance(section, dict):
            raise ConfigError(f"{toml_path}: [clean] must be a table of settings")
        data.update(section)
    from_flags = {k: v for k, v in overrides.items() if v is not None and v != []}
    data.update(from_flags)
    try:
        return CleanConfig.model_validate(data)
    except ValidationError as err:
        key, message = first_problem(err, "[clean]")
        top = key.split(".")[0]
        if top in from_flags:
            where = FLAGS.get(top, top)
        elif toml_path is not None:
            where = f"{toml_path}: [clean] {key}"
        else:
            where = key
        raise ConfigError(f"{where}: {message}") from None


def plot_reasons(report: CleanReport, path: Path) -> Path:
    """A horizontal bar plot of rejected and repaired dialogues per reason code."""
    from sweetiechat.metrics.plots import _plt, _save

    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    codes = list(REASONS)[::-1]
    ys = range(len(codes))
    rejected = [report.rejected_by.get(c, 0) for c in codes]
    repaired = [report.repaired_by.get(c, 0) for c in codes]
    ax.barh([y + 0.2 for y in ys], rejected, height=0.4, color="#c0392b", label="rejected")
    ax.barh([y - 0.2 for y in ys], repaired, height=0.4, color="#2e86c1", label="repaired (kept)")
    for y, (a, b) in enumerate(zip(rejected, repaired, strict=True)):
        if a:
            ax.text(a, y + 0.2, f" {a}", va="center", fontsize=8)
        if b:
            ax.text(b, y - 0.2, f" {b}", va="center", fontsize=8)
    ax.set_yticks(list(ys), codes)
    ax.set_xlabel("dialogues")
    ax.set_title(
        f"clean: {report.kept} of {report.input} kept ({report.repaired} repaired), "
        f"{report.rejected} rejected",
        fontsize=10,
    )
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def write_report(report: CleanReport, folder: Path) -> list[Path]:
    """Write ``report.json`` and ``reasons.png`` into ``folder`` (atomically)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "report.json", report.to_dict())
    return [folder / "report.json", plot_reasons(report, folder / "reasons.png")]
