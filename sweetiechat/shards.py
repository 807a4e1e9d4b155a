"""Shards of one generation run, and merging them back.

A run of ``n`` dialogues split into ``N`` shards gives shard ``K`` (1-based) the indices
``i`` with ``i % N == K - 1``. Ids stay ``sc<seed>-<index>``, so shards never collide, and
each shard has its own output and run folder, so it resumes on its own.

>>> shard = parse_shard("2/3")
>>> shard.indices(8)
[1, 4, 7]
>>> str(shard)
'2/3'
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweetiechat.config import signature_changes
from sweetiechat.errors import ConfigError, UserError
from sweetiechat.io import JsonlWriter, TornLineWarning, read_dialogues
from sweetiechat.types import Dialogue

__all__ = ["MergeReport", "Shard", "merge_shards", "parse_shard", "read_run_settings"]

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
_ID = re.compile(r"^sc(-?\d+)-(\d+)$")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``."""

    index: int
    """Which shard, from 1 to ``count``."""
    count: int
    """How many shards the run has."""

    def __post_init__(self) -> None:
        if self.count < 1 or not 1 <= self.index <= self.count:
            raise ConfigError(
                f"--shard {self.index}/{self.count}: give K/N with 1 <= K <= N, e.g. 1/4"
            )

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, index: int) -> bool:
        """True when dialogue ``index`` belongs to this shard."""
        return index % self.count == self.index - 1

    def indices(self, n: int) -> list[int]:
        """The dialogue indices of this shard among ``0 .. n-1``."""
        return list(range(self.index - 1, n, self.count))


def parse_shard(text: str) -> Shard:
    """``"K/N"`` as a :class:`Shard`; a malformed or out-of-range text is a
    :class:`ConfigError` saying what to pass."""
    match = _SHARD.match(text)
    if not match:
        raise ConfigError(f"--shard {text!r}: give K/N, e.g. 1/4 for the first of four shards")
    return Shard(int(match.group(1)), int(match.group(2)))


def read_run_settings(out: str | Path) -> dict[str, Any]:
    """The ``run.json`` of the run that wrote ``out`` (its seed, ``n``, shard and data
    signature)."""
    from sweetiechat.runs import run_folder  # runs imports this module

    path = run_folder(out) / "run.json"
    if not path.is_file():
        raise UserError(
            f"{out}: no run settings at {path}; was it written by sweetiechat generate?"
        )
    try:
        settings: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise UserError(f"{path}: cannot read the run settings ({err})") from None
    return settings


@dataclass
class MergeReport:
    """What :func:`merge_shards` found and wrote."""

    written: int
    """Dialogues in the merged output (0 when nothing was written)."""
    n: int
    """Dialogues the run asked for."""
    missing: dict[str, list[int]]
    """Per shard file, the indices it should hold but does not."""


def _range_text(indices: list[int], limit: int = 12) -> str:
    shown = ", ".join(str(i) for i in indices[:limit])
    return shown + (f" and {len(indices) - limit} more" if len(indices) > limit else "")


def merge_shards(
    out: str | Path, shards: list[str | Path], *, allow_missing: bool = False
) -> MergeReport:
    """Merge the outputs of the shards of one run into ``out``, in index order.

    Checks that the shards belong to one run (same seed, ``n``, shard count and data
    signature), that no id appears twice, and which indices are missing. With missing
    indices nothing is written (unless ``allow_missing``), and the error says how to resume
    each incomplete shard. The output is written to a temporary file and renamed, so it is
    never half-written.

    Raises:
        UserError: shards of different runs, a duplicate id, missing indices, or bad files.
    """
    out = Path(out)
    if not shards:
        raise UserError("no shard files given; pass the shard outputs to merge")
    paths = [Path(p) for p in shards]
    if out.resolve() in {p.resolve() for p in paths}:
        raise UserError(f"{out} is one of the shards; choose another output")
    settings = {p: read_run_settings(p) for p in paths}
    first, reference = paths[0], settings[paths[0]]
    count = parse_shard(reference.get("shard") or "1/1").count
    seen_shards: dict[str, Path] = {}
    for path in paths:
        s = settings[path]
        for key in ("seed", "n"):
            if s.get(key) != reference.get(key):
                raise UserError(
                    f"{path} is from another run than {first}: {key} {s.get(key)} vs "
                    f"{reference.get(key)}; merge only the shards of one run"
                )
        changes = signature_changes(
            reference.get("data_signature") or {}, s.get("data_signature") or {}
        )
        if changes:
            raise UserError(
                f"{path} is from another run than {first} (settings differ: "
                f"{'; '.join(changes[:4])}); merge only the shards of one run"
            )
        shard = parse_shard(s.get("shard") or "1/1")
        if shard.count != count:
            raise UserError(f"{path} is shard {shard}, of another split than {first} (N={count})")
        if str(shard) in seen_shards:
            raise UserError(f"{path} and {seen_shards[str(shard)]} are both shard {shard}")
        seen_shards[str(shard)] = path
    absent = [f"{k}/{count}" for k in range(1, count + 1) if f"{k}/{count}" not in seen_shards]
    if absent:
        raise UserError(
            f"shard(s) {', '.join(absent)} not given; pass the outputs of all {count} shards"
        )
    n, seed = int(reference["n"]), int(reference["seed"])
    by_index: dict[int, Path] = {}
    missing: dict[str, list[int]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TornLineWarning)  # a torn tail is an unfinished record
        for path in paths:
            shard = parse_shard(settings[path].get("shard") or "1/1")
            have = set()
            for dialogue in read_dialogues(path):
                match = _ID.match(dialogue.id)
                if not match or int(match.group(1)) != seed:
                    raise UserError(f"{path}: dialogue {dialogue.id!r} is not from run seed {seed}")
                index = int(match.group(2))
                if index in by_index:
                    other = by_index[index]
                    raise UserError(f"{path}: id {dialogue.id} also appears in {other}")
                if not shard.owns(index):
                    raise UserError(f"{path}: id {dialogue.id} does not belong to shard {shard}")
                by_index[index] = path
                have.add(index)
            lacking = [i for i in shard.indices(n) if i not in have]
            if lacking:
                missing[str(path)] = lacking
    if missing and not allow_missing:
        lines = [
            f"{path} lacks {len(idx)} dialogue(s) (indices {_range_text(idx)}); resume it with "
            f"`sweetiechat generate -n {n} -o {path} --shard {settings[Path(path)].get('shard')} "
            "--resume` and the same settings"
            for path, idx in missing.items()
        ]
        raise UserError("nothing merged: " + " | ".join(lines))
    tmp = out.with_name(out.name + ".tmp")
    tmp.unlink(missing_ok=True)
    try:
        with warnings.catch_warnings(), JsonlWriter(tmp, fsync=False) as writer:
            warnings.simplefilter("ignore", TornLineWarning)
            cursors = {p: read_dialogues(p) for p in paths}
            buffered: dict[int, Dialogue] = {}
            for index in sorted(by_index):
                path = by_index[index]
                while index not in buffered:  # shard files are in completion order
                    dialogue = next(cursors[path])
                    buffered[_index(dialogue.id)] = dialogue
                writer.write(buffered.pop(index))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(out)
    from sweetiechat.runs import run_folder  # runs imports this module

    folder = run_folder(out)
    folder.mkdir(parents=True, exist_ok=True)
    record = {k: v for k, v in reference.items() if k != "shard"}
    record["merged_from"] = [str(p) for p in paths]
    (folder / "run.json.tmp").write_text(json.dumps(record, indent=2), encoding="utf-8")
    (folder / "run.json.tmp").replace(folder / "run.json")
    return MergeReport(written=len(by_index), n=n, missing=missing)


def _index(dialogue_id: str) -> int:
    match = _ID.match(dialogue_id)
    assert match is not None  # checked while scanning
    return int(match.group(2))
