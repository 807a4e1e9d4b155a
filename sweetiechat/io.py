"""Reading and writing dialogues: our JSON-lines form and both published ESConv formats.

Reading streams: a 100,000-dialogue file is never held in memory (except the original
single-array ``ESConv.json``, which is one JSON document). Writing appends one whole record
per call, flushed and fsynced, so a crash leaves at most a torn last line, which the reader
reports and skips and :class:`JsonlWriter` cuts off before appending again.

>>> from pathlib import Path; import tempfile
>>> path = Path(tempfile.mkdtemp()) / "d.jsonl"
>>> with JsonlWriter(path) as w:
...     w.write(Dialogue(id="a", problem_type="Burnout", turns=[Turn(role="seeker", text="Hi")]))
>>> [d.id for d in read_dialogues(path)]
['a']
"""

from __future__ import annotations

import json
import os
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sweetiechat.errors import UserError, first_problem
from sweetiechat.taxonomy import ESCONV_PROBLEM_TYPES, UnknownLabelError
from sweetiechat.types import Dialogue, DialogueMeta, Turn

__all__ = [
    "DataError",
    "JsonlWriter",
    "NotDialogueFileError",
    "TornLineWarning",
    "esconv_record",
    "existing_ids",
    "read_dialogues",
    "read_esconv",
    "read_located",
    "read_text",
    "write_dialogues",
]


class DataError(UserError, ValueError):
    """Bad input, located: ``str(err)`` is ``"FILE:LINE: what is wrong"``."""

    def __init__(self, path: str | Path, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class NotDialogueFileError(DataError):
    """The file is valid JSON but holds no dialogues at all (e.g. ESConv's strategy.json)."""


class TornLineWarning(UserWarning):
    """The file's last line was cut off (a crash mid-write); it was skipped."""


def _explain(err: ValidationError) -> str:
    field, message = first_problem(err, "record")
    return f"field {field!r}: {message}"


def _require_file(path: Path) -> None:
    if not path.exists():
        raise DataError(path, None, "no such file; check the path")
    if path.is_dir():
        raise DataError(path, None, "is a folder; give a file")


def read_text(path: str | Path) -> str:
    """A whole UTF-8 text file, or a :class:`DataError` saying what is wrong with it."""
    path = Path(path)
    _require_file(path)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(path, None, f"not UTF-8 ({err.reason}); re-encode it") from None


def _lines(path: Path) -> Iterator[tuple[int, str, bool]]:
    """Yield (line number, text, ends with newline) for each non-blank line."""
    _require_file(path)
    with path.open("rb") as fh:
        seen_any = False
        for number, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise DataError(
                    path, number, f"not UTF-8 ({err.reason} at byte {err.start}); re-encode it"
                ) from None
            if text.strip():
                seen_any = True
                yield number, text, text.endswith("\n")
    if not seen_any:
        raise DataError(path, None, "file is empty; expected one JSON dialogue per line")


def _first_char(path: Path) -> str:
    for _, text, _ in _lines(path):
        return text.lstrip()[:1]
    return ""


def read_dialogues(
    path: str | Path,
    *,
    on_error: Callable[[DataError], None] | None = None,
) -> Iterator[Dialogue]:
    """Stream the dialogues of a file in any supported format.

    Formats are detected: sweetiechat JSON lines (``turns``), ESConv's JSON-lines splits
    (``dialog`` with ``usr``/``sys``), or the original ``ESConv.json`` array.

    Args:
        path: the file.
        on_error: called with each bad record's :class:`DataError`; the record is skipped.
            Without it the first bad record raises.

    Raises:
        DataError: the file is missing, empty, not UTF-8, or has a bad record.
    """
    for _, dialogue in read_located(path, on_error=on_error):
        yield dialogue


def read_located(
    path: str | Path,
    *,
    on_error: Callable[[DataError], None] | None = None,
) -> Iterator[tuple[int | None, Dialogue]]:
    """Like :func:`read_dialogues`, with each dialogue's line number in the file (``None``
    for the original single-array ``ESConv.json``, whose records have no line of their own),
    so messages can say ``FILE:LINE``."""
    path = Path(path)

    def fail(err: DataError) -> None:
        if on_error is None:
            raise err
        on_error(err)

    if _first_char(path) == "[":
        for dialogue in read_esconv(path):
            yield None, dialogue
        return
    for number, text, complete in _lines(path):
        try:
            record = json.loads(text)
        except json.JSONDecodeError as err:
            if not complete:
                warnings.warn(
                    f"{path}:{number}: last line is cut off (an interrupted write); skipped it",
                    TornLineWarning,
                    stacklevel=3,
                )
                continue
            fail(DataError(path, number, f"not valid JSON ({err.msg}, column {err.colno})"))
            continue
        try:
            dialogue = _parse_record(record, path.stem, number)
        except DataError as err:
            fail(DataError(path, number, err.message))
            continue
        yield number, dialogue


def _parse_record(record: Any, stem: str, number: int) -> Dialogue:
    if not isinstance(record, dict):
        raise DataError(stem, number, "expected a JSON object")
    try:
        if "dialog" in record:
            return _from_esconv(record, f"esconv-{stem}-{number - 1:04d}", speaker_key="speaker")
        if "turns" not in record:
            raise DataError(stem, number, "missing field 'turns' (or ESConv's 'dialog')")
        return Dialogue.model_validate(record)
    except ValidationError as err:
        raise DataError(stem, number, _explain(err)) from None
    except UnknownLabelError as err:
        raise DataError(stem, number, str(err)) from None


_ESCONV_ROLE = {"usr": "seeker", "sys": "supporter", "seeker": "seeker", "supporter": "supporter"}


def _from_esconv(record: dict[str, Any], dialogue_id: str, speaker_key: str) -> Dialogue:
    turns = []
    for i, utt in enumerate(record["dialog"]):
        speaker = utt.get(speaker_key)
        if speaker not in _ESCONV_ROLE:
            raise UnknownLabelError(f"dialog[{i}]: unknown speaker {speaker!r}; use usr or sys")
        text = utt.get("text", utt.get("content", ""))
        strategy = utt.get("strategy") or (utt.get("annotation") or {}).get("strategy")
        role = _ESCONV_ROLE[speaker]
        turns.append(
            Turn(
                role=role,
                text=" ".join(str(text).split()),
                strategy=strategy if role == "supporter" else None,
            )
        )
    raw_type = str(record.get("problem_type", ""))
    meta = DialogueMeta(
        source="esconv",
        emotion_type=record.get("emotion_type"),
        survey_score=record.get("survey_score"),
        esconv_problem_type=raw_type,
        experience_type=record.get("experience_type"),
    )
    return Dialogue(
        id=dialogue_id,
        problem_type=ESCONV_PROBLEM_TYPES.get(raw_type.lower(), raw_type),
        scenario=record.get("situation"),
        turns=turns,
        meta=meta,
    )


def read_esconv(path: str | Path) -> Iterator[Dialogue]:
    """Read the original single-array ``ESConv.json`` (``seeker``/``supporter``, ``content``,
    ``annotation.strategy``). Errors name the dialogue's index in the array."""
    path = Path(path)
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as err:
        raise DataError(path, err.lineno, f"not valid JSON ({err.msg})") from None
    if not isinstance(data, list):
        raise DataError(path, None, "expected a JSON array of ESConv dialogues")
    if not any(isinstance(r, dict) for r in data):
        raise NotDialogueFileError(path, None, "holds no dialogues (a JSON array without objects)")
    for index, record in enumerate(data):
        try:
            if not isinstance(record, dict) or "dialog" not in record:
                raise UnknownLabelError("expected an object with a 'dialog' list")
            yield _from_esconv(record, f"esconv-{index:04d}", speaker_key="speaker")
        except (ValidationError, UnknownLabelError) as err:
            message = _explain(err) if isinstance(err, ValidationError) else str(err)
            raise DataError(path, None, f"dialogue {index}: {message}") from None


def esconv_record(dialogue: Dialogue) -> dict[str, Any]:
    """Export a dialogue back to ESConv's JSON-lines form (``usr``/``sys``)."""
    extra = dialogue.meta.model_extra or {}
    return {
        "experience_type": extra.get("experience_type"),
        "emotion_type": dialogue.meta.emotion_type,
        "problem_type": extra.get("esconv_problem_type") or dialogue.problem_type.value,
        "situation": dialogue.scenario,
        "survey_score": dialogue.meta.survey_score,
        "dialog": [
            {"text": t.text, "speaker": "usr" if t.role == "seeker" else "sys"}
            | ({"strategy": t.strategy.value} if t.strategy else {})
            for t in dialogue.turns
        ],
    }


def existing_ids(path: str | Path) -> set[str]:
    """The ids already written to ``path`` (empty when it does not exist); torn lines skipped."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TornLineWarning)
        return {d.id for d in read_dialogues(path)}


class JsonlWriter:
    """Append records to a JSON-lines file, each one whole: one write, flush, fsync.

    On open, a torn last line left by a crash is cut off (and reported through
    :attr:`repaired_bytes`), so the next record never merges into it. Safe to share
    between threads.
    """

    def __init__(self, path: str | Path, *, fsync: bool = True) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fsync = fsync
        self._lock = threading.Lock()
        self.repaired_bytes = self._cut_torn_tail()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def _cut_torn_tail(self) -> int:
        if not self.path.exists():
            return 0
        size = self.path.stat().st_size
        if size == 0:
            return 0
        with self.path.open("rb+") as fh:
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) == b"\n":
                return 0
            # Walk back to the last newline.
            pos = size
            chunk = 65536
            keep = 0
            while pos > 0:
                start = max(0, pos - chunk)
                fh.seek(start)
                block = fh.read(pos - start)
                idx = block.rfind(b"\n")
                if idx >= 0:
                    keep = start + idx + 1
                    break
                pos = start
            fh.truncate(keep)
            return size - keep

    def write(self, item: Dialogue | dict[str, Any]) -> None:
        """Append one record as a single line."""
        record = item.to_record() if isinstance(item, Dialogue) else item
        data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            os.write(self._fd, data)
            if self._fsync:
                os.fsync(self._fd)

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            if self._fd >= 0:
                if not self._fsync:
                    os.fsync(self._fd)
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_dialogues(
    path: str | Path, dialogues: Iterator[Dialogue] | list[Dialogue], *, esconv: bool = False
) -> int:
    """Write dialogues to a new file atomically (temp file + rename); returns the count."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    count = 0
    with JsonlWriter(tmp, fsync=False) as writer:
        for d in dialogues:
            writer.write(esconv_record(d) if esconv else d)
            count += 1
    tmp.replace(path)
    return count
