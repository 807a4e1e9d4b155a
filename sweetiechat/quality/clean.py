"""``clean``: every filter over a dialogue file, in one streaming pass.

Dialogues are read in batches (``CleanConfig.batch_size``); each batch goes through the rule
filters (:mod:`sweetiechat.quality.filters`), the model filters
(:mod:`sweetiechat.quality.clean_models`) and the near-duplicate index
(:mod:`sweetiechat.quality.dedup`), in file order, so the first of a group of near-duplicates
is the one kept. Kept dialogues (repairs listed in ``meta.repairs``) go to ``out``, the rest to
``rejected`` with their ``reasons``; both files are written under temporary names and renamed
at the end, so a crash never leaves a half-written output. Every input dialogue ends up in
exactly one of the two (checked).

>>> import tempfile; from pathlib import Path
>>> from sweetiechat.io import write_dialogues
>>> from sweetiechat.types import Dialogue, Turn
>>> tmp = Path(tempfile.mkdtemp())
>>> _ = write_dialogues(tmp / "in.jsonl", [Dialogue(id="a", problem_type="Burnout",
...     turns=[Turn(role="seeker", text="Hi.")])])
>>> config = CleanConfig(disable=["role_inconsistency", "off_scenario", "unsafe_supporter"])
>>> r = clean_file(tmp / "in.jsonl", tmp / "out.jsonl", tmp / "rejected.jsonl", config)
>>> r.kept, r.rejected, r.rejected_by["too_short"]
(0, 1, 1)
"""

from __future__ import annotations

import json
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweetiechat.io import JsonlWriter, TornLineWarning, read_located
from sweetiechat.quality.clean_models import ModelChecks
from sweetiechat.quality.dedup import NearDuplicateIndex, dialogue_text
from sweetiechat.quality.filters import REASONS, CleanConfig, RuleVerdict, check_rules
from sweetiechat.types import Dialogue, DialogueMeta

__all__ = ["CleanReport", "clean_file", "clean_records", "strategy_adherence", "write_json"]


@dataclass
class CleanReport:
    """What ``clean`` did."""

    input: int = 0
    """Dialogues read."""
    kept: int = 0
    """Dialogues written to the output (repaired or not)."""
    rejected: int = 0
    """Dialogues written to ``rejected.jsonl``."""
    repaired: int = 0
    """Kept dialogues with at least one repair."""
    rejected_by: Counter[str] = field(default_factory=Counter)
    """Reason code -> rejected dialogues with that reason (a dialogue can have several)."""
    repaired_by: Counter[str] = field(default_factory=Counter)
    """Reason code -> kept dialogues repaired for it."""
    notes: list[str] = field(default_factory=list)
    """Filters skipped or partly applied, and why."""
    settings: dict[str, Any] = field(default_factory=dict)
    """The settings used."""
    seconds: float = 0.0
    """Wall time."""
    adherence: dict[str, Any] | None = None
    """Strategy adherence of the kept dialogues (with a recognizer)."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of ``report.json``."""
        return {
            "input": self.input,
            "kept": self.kept,
            "rejected": self.rejected,
            "repaired": self.repaired,
            "rejected_by": {code: self.rejected_by.get(code, 0) for code in REASONS},
            "repaired_by": {code: self.repaired_by.get(code, 0) for code in REASONS},
            "notes": self.notes,
            "settings": self.settings,
            "seconds": round(self.seconds, 2),
            "adherence": self.adherence,
        }


def _with_repairs(dialogue: Dialogue, repairs: list[dict[str, Any]]) -> Dialogue:
    meta = dialogue.meta.model_dump()
    meta["repairs"] = list(meta.get("repairs") or []) + repairs
    return dialogue.model_copy(update={"meta": DialogueMeta.model_validate(meta)})


def _batches(path: Path, size: int) -> Iterator[list[Dialogue]]:
    batch: list[Dialogue] = []
    for _, dialogue in read_located(path):
        batch.append(dialogue)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def clean_records(
    dialogues: Iterator[list[Dialogue]],
    config: CleanConfig,
    checks: ModelChecks,
    on_kept: Callable[[Dialogue], None],
    on_rejected: Callable[[dict[str, Any]], None],
    progress: Callable[[int], None] | None = None,
) -> CleanReport:
    """Filter batches of dialogues; hand each to ``on_kept`` or (as a record with
    ``reasons`` and ``details``) to ``on_rejected``."""
    report = CleanReport(settings=config.model_dump())
    index = (
        NearDuplicateIndex(config.dup_threshold, config.dup_num_perm, config.dup_ngram)
        if config.on("near_duplicate")
        else None
    )
    for batch in dialogues:
        verdicts: list[RuleVerdict] = [check_rules(d, config) for d in batch]
        checks.run(verdicts)
        for original, verdict in zip(batch, verdicts, strict=True):
            report.input += 1
            if index is not None:
                minhash = index.signature(dialogue_text(verdict.dialogue))
                found = index.match(minhash)
                if found is not None:
                    verdict.reject(
                        "near_duplicate", f"near-duplicate of {found[0]} (Jaccard ~{found[1]:.2f})"
                    )
                elif not verdict.reasons:
                    index.insert(original.id, minhash)
            if verdict.reasons:
                record = original.to_record()
                record["reasons"] = verdict.reasons
                record["details"] = verdict.details
                on_rejected(record)
                report.rejected += 1
                report.rejected_by.update(verdict.reasons)
            else:
                kept = verdict.dialogue
                if verdict.repairs:
                    kept = _with_repairs(kept, verdict.repairs)
                    report.repaired += 1
                    report.repaired_by.update({r["code"] for r in verdict.repairs})
                on_kept(kept)
                report.kept += 1
        if progress is not None:
            progress(len(batch))
    report.notes = checks.finish_notes()
    return report


def clean_file(
    source: str | Path,
    out: str | Path,
    rejected: str | Path,
    config: CleanConfig | None = None,
    *,
    role_model: str | Path | None = None,
    checks: ModelChecks | None = None,
    progress: Callable[[int], None] | None = None,
) -> CleanReport:
    """Clean ``source`` into ``out`` (kept) and ``rejected`` (with reasons), atomically.

    Raises:
        DataError: a line of ``source`` is not a valid dialogue (``FILE:LINE: ...``).
        ConfigError: a model the settings ask for cannot be loaded.
    """
    started = time.perf_counter()
    config = config or CleanConfig()
    source, out, rejected = Path(source), Path(out), Path(rejected)
    checks = checks or ModelChecks(config, role_model=role_model)
    checks.load()
    tmp_out = out.with_name(out.name + ".tmp")
    tmp_rej = rejected.with_name(rejected.name + ".tmp")
    for tmp in (tmp_out, tmp_rej):
        tmp.unlink(missing_ok=True)
    try:
        with (
            warnings.catch_warnings(record=True) as caught,
            JsonlWriter(tmp_out, fsync=False) as kept,
            JsonlWriter(tmp_rej, fsync=False) as rej,
        ):
            warnings.simplefilter("always")
            report = clean_records(
                _batches(source, config.batch_size), config, checks, kept.write, rej.write, progress
            )
    except BaseException:
        for tmp in (tmp_out, tmp_rej):
            tmp.unlink(missing_ok=True)
        raise
    if report.kept + report.rejected != report.input:  # pragma: no cover - an invariant
        raise RuntimeError(
            f"clean lost dialogues: {report.input} in, {report.kept} kept, "
            f"{report.rejected} rejected"
        )
    tmp_out.replace(out)
    tmp_rej.replace(rejected)
    torn = [str(w.message) for w in caught if issubclass(w.category, TornLineWarning)]
    for w in caught:
        if not issubclass(w.category, TornLineWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    report.notes = torn + report.notes
    report.seconds = time.perf_counter() - started
    return report


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as JSON atomically (temp file + rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def strategy_adherence(path: str | Path, recognizer_dir: str | Path) -> dict[str, Any]:
    """Strategy adherence of the dialogues in ``path``, per strategy, read by the strategy
    recognizer in ``recognizer_dir``.

    Raises:
        ConfigError: ``recognizer_dir`` is not a folder.
    """
    from sweetiechat.errors import ConfigError

    folder = Path(recognizer_dir)
    if not folder.is_dir():
        raise ConfigError(
            f"--recognizer {folder}: no such folder; train one with `sweetiechat quality` "
            "or leave the flag out"
        )
    from sweetiechat.io import read_dialogues
    from sweetiechat.quality.adherence import adherence
    from sweetiechat.quality.recognizer import StrategyRecognizer

    recognizer = StrategyRecognizer.load(folder)
    result: dict[str, Any] = adherence(list(read_dialogues(path)), recognizer).to_dict()
    return result
