import json
import os
import warnings

import pytest

from sweetiechat.io import (
    DataError,
    JsonlWriter,
    TornLineWarning,
    esconv_record,
    existing_ids,
    read_dialogues,
    write_dialogues,
)
from sweetiechat.taxonomy import ProblemType, Strategy
from sweetiechat.types import Dialogue, Turn


def _dialogue(i: int) -> Dialogue:
    return Dialogue(
        id=f"d{i}",
        problem_type="Burnout",
        turns=[
            Turn(role="seeker", text=f"hello {i}"),
            Turn(role="supporter", text="hi", strategy="Others"),
        ],
    )


def test_esconv_split_format_is_imported_with_metadata(esconv_small):
    ds = list(read_dialogues(esconv_small))
    assert len(ds) == 3
    first = ds[0]
    assert first.problem_type is ProblemType.JOB_CRISIS
    assert first.scenario.startswith("I am on short term disability")
    assert first.meta.source == "esconv"
    assert first.meta.emotion_type == "anxiety"
    assert first.meta.survey_score["seeker"]["empathy"] == "5"
    assert first.turns[3].strategy is Strategy.QUESTION
    assert first.turns[0].role == "seeker" and first.turns[0].strategy is None


def test_original_esconv_json_gives_the_same_dialogues(esconv_small, esconv_original):
    a = list(read_dialogues(esconv_small))
    b = list(read_dialogues(esconv_original))
    assert [d.turns for d in a] == [d.turns for d in b]
    assert [d.meta.emotion_type for d in a] == [d.meta.emotion_type for d in b]


def test_export_back_to_esconv_round_trips(esconv_small, tmp_path):
    out = tmp_path / "back.json"
    write_dialogues(out, read_dialogues(esconv_small), esconv=True)
    original = [json.loads(line) for line in esconv_small.read_text().splitlines()]
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    for o, e in zip(original, exported, strict=True):
        assert e["dialog"] == o["dialog"]
        assert e["problem_type"] == o["problem_type"]
        assert e["situation"] == o["situation"]
        assert e["survey_score"] == o["survey_score"]


def test_writer_appends_whole_lines_and_reader_streams(tmp_path):
    path = tmp_path / "out.jsonl"
    with JsonlWriter(path) as w:
        for i in range(3):
            w.write(_dialogue(i))
    assert path.read_bytes().endswith(b"\n")
    assert [d.id for d in read_dialogues(path)] == ["d0", "d1", "d2"]
    assert existing_ids(path) == {"d0", "d1", "d2"}


def test_torn_last_line_is_reported_skipped_and_cut_before_appending(tmp_path):
    path = tmp_path / "out.jsonl"
    with JsonlWriter(path) as w:
        w.write(_dialogue(0))
    line = json.dumps(_dialogue(1).to_record())
    with path.open("a") as fh:
        fh.write(line[: len(line) // 2])  # a crash mid-write
    with pytest.warns(TornLineWarning, match=r"out.jsonl:2: last line is cut off"):
        assert [d.id for d in read_dialogues(path)] == ["d0"]
    with JsonlWriter(path) as w:
        assert w.repaired_bytes == len(line) // 2
        w.write(_dialogue(2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [d.id for d in read_dialogues(path)] == ["d0", "d2"]


def _write(tmp_path, name, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    "content, line, message",
    [
        (b'{"id": "a", "problem_type": "Burnout", "turns": []}\n{"id": \n', 2, "not valid JSON"),
        (
            b'{"id": "a", "problem_type": "Burnout", "turns": [{"role": "supporter", '
            b'"text": "x", "strategy": "Empathy"}]}\n',
            1,
            "unknown strategy 'Empathy'",
        ),
        (b'{"id": "a", "problem_type": "Burnout"}\n', 1, "missing field 'turns'"),
        (b'{"problem_type": "Burnout", "turns": []}\n', 1, "field 'id'"),
        (
            b'{"id": "a", "problem_type": "Burnout", "turns": [{"role": "seeker", "text": ""}]}\n',
            1,
            "field 'turns.0.text'",
        ),
        (b'{"id": "a", "problem_type": "Time travel", "turns": []}\n', 1, "unknown problem type"),
        (b'{"id": "a", "problem_type": "Burnout", "turns": []}\n\xff\xfe\n', 2, "not UTF-8"),
        (b'"just text"\n', 1, "expected a JSON object"),
    ],
)
def test_bad_records_name_file_and_line(tmp_path, content, line, message):
    path = _write(tmp_path, "bad.jsonl", content)
    with pytest.raises(DataError) as info:
        list(read_dialogues(path))
    assert info.value.line == line
    assert str(info.value).startswith(f"{path}:{line}: ")
    assert message in str(info.value)


def test_empty_and_missing_files(tmp_path):
    empty = _write(tmp_path, "empty.jsonl", b"\n  \n")
    with pytest.raises(DataError, match="file is empty"):
        list(read_dialogues(empty))
    with pytest.raises(DataError, match="no such file"):
        list(read_dialogues(tmp_path / "nope.jsonl"))


def test_on_error_collects_every_bad_record(tmp_path):
    good = json.dumps(_dialogue(0).to_record())
    path = _write(tmp_path, "mixed.jsonl", f"{good}\nnot json\n{good}\n{{}}\n".encode())
    errors: list[DataError] = []
    ids = [d.id for d in read_dialogues(path, on_error=errors.append)]
    assert ids == ["d0", "d0"]
    assert [e.line for e in errors] == [2, 4]


def test_writer_is_durable_per_record(tmp_path, monkeypatch):
    calls = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd)))
    with JsonlWriter(tmp_path / "x.jsonl") as w:
        w.write(_dialogue(0))
        w.write(_dialogue(1))
    assert len(calls) == 2


def test_esconv_record_keeps_strategies():
    rec = esconv_record(_dialogue(0))
    assert rec["dialog"] == [
        {"text": "hello 0", "speaker": "usr"},
        {"text": "hi", "speaker": "sys", "strategy": "Others"},
    ]
