"""``sweetiechat judge`` run as a user runs it, against the test server: outputs, summary,
plots, and one-line errors that leave nothing behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from sweetiechat.errors import UserError
from sweetiechat.eval.judge import check_run_folder
from sweetiechat.io import write_dialogues
from sweetiechat.testing import OpenAITestServer
from sweetiechat.types import Dialogue, Turn


def in_process(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """The console script's entry point in this process (faster than a subprocess):
    (exit code, stdout, stderr)."""
    from sweetiechat.cli import main

    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setattr(sys, "argv", ["sweetiechat", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    captured = capsys.readouterr()
    return int(exit_.value.code or 0), captured.out, captured.err


def sweetiechat(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPENAI_API_KEY": "test-key", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "sweetiechat", *args], capture_output=True, text=True, env=env,
        timeout=300,
    )  # fmt: skip


def _dialogues(replies: list[str], seeker: str = "I feel low") -> list[Dialogue]:
    out = []
    for k in range(3):
        turns = []
        for i, reply in enumerate(replies):
            turns += [
                Turn(role="seeker", text=f"{seeker} {k}.{i}"),
                Turn(role="supporter", text=reply, strategy="Question"),
            ]
        out.append(Dialogue(id=f"d{k}", problem_type="Burnout", turns=turns))
    return out


@pytest.fixture
def files(tmp_path):
    long = tmp_path / "long.jsonl"
    short = tmp_path / "short.jsonl"
    # the test server's judge prefers the longer reply; contexts hold no supporter turn that
    # differs, since each system's reply is judged only at the first supporter turn here
    write_dialogues(long, _dialogues(["That sounds really hard, tell me more about it."]))
    write_dialogues(short, _dialogues(["Ok."]))
    return long, short


def test_pairwise_end_to_end_with_two_judges_and_two_runs(files, tmp_path):
    long, short = files
    out = tmp_path / "judged"
    with OpenAITestServer() as server:
        r = sweetiechat(
            "judge", "pairwise", str(short), str(long), "--out", str(out), "--backend", "openai",
            "--base-url", server.base_url, "--model", "judge-1", "--model", "judge-2",
            "--runs", "2", "--seed", "1",
        )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "position bias of judge-1" in r.stdout and "Fleiss' kappa between the 2" in r.stdout
    assert "self-agreement of judge-2, runs 1-2: Cohen's kappa 1.000" in r.stdout
    lines = (out / "judgments.jsonl").read_text().splitlines()
    assert len(lines) == 3 * 7 * 2 * 2  # items x dimensions x judges x runs
    first = json.loads(lines[0])
    assert set(first) >= {"item", "judge", "run", "dimension", "order", "answer", "winner"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["win_tie_loss"]["judge-1"]["Empathy"] == {
        "win": 0, "tie": 0, "loss": 6, "missing": 0,
    }  # fmt: skip
    assert summary["fleiss_kappa"]["1"]["all"]["kappa"] == 1.0
    assert summary["systems"]["a"] == f"{tmp_path.name}/short.jsonl"
    png = (out / "win_tie_loss.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


@pytest.mark.parametrize("case", ["misaligned", "empty", "not json"])
def test_bad_inputs_give_one_line_errors_and_write_nothing(
    files, tmp_path, case, monkeypatch, capsys
):
    long, _ = files
    bad = tmp_path / "bad.jsonl"
    if case == "misaligned":
        write_dialogues(bad, _dialogues(["Ok."], seeker="Something else"))
        expect = "the contexts of item 'd0:1' differ"
    elif case == "empty":
        bad.write_text("")
        expect = "file is empty"
    else:
        bad.write_text('{"id": "d0:1", "context": [], "response": "x"}\n{broken\n')
        expect = "bad.jsonl:2: not valid JSON"
    out = tmp_path / "judged"
    code, _, err = in_process(
        monkeypatch, capsys, "judge", "pairwise", str(long), str(bad), "--out", str(out)
    )
    assert code == 2
    assert expect in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_dataset_ratings_end_to_end(files, tmp_path, monkeypatch, capsys):
    long, _ = files
    out = tmp_path / "rated"
    with OpenAITestServer() as server:
        code, stdout, stderr = in_process(
            monkeypatch, capsys, "judge", "dataset", str(long), "--out", str(out),
            "--backend", "openai", "--base-url", server.base_url, "--model", "rater",
            "--dimension", "safety", "--dimension", "Rationality",
        )  # fmt: skip
    assert code == 0, stderr
    ratings = [json.loads(x) for x in (out / "ratings.jsonl").read_text().splitlines()]
    assert len(ratings) == 3 * 2
    assert {x["dimension"] for x in ratings} == {"Safety", "Rationality"}
    assert all(x["rating"] in (3, 4, 5) for x in ratings)  # the test server rates 3-5
    summary = json.loads((out / "summary.json").read_text())
    assert 3 <= summary["ratings"]["rater"]["Safety"]["mean"] <= 5
    assert (out / "ratings.png").read_bytes().startswith(b"\x89PNG")
    assert "Dataset ratings (1-5), 3 dialogues" in stdout


def test_a_folder_of_other_judgments_is_refused(tmp_path):
    check_run_folder(tmp_path / "x", {"kind": "pairwise", "items": "abc", "seed": 0})
    check_run_folder(tmp_path / "x", {"kind": "pairwise", "items": "abc", "seed": 0})  # resume
    with pytest.raises(UserError, match=r"other inputs or settings \(items, seed differ\)"):
        check_run_folder(tmp_path / "x", {"kind": "pairwise", "items": "def", "seed": 1})


def test_agreement_command_compares_two_folders(tmp_path, monkeypatch, capsys):
    rows = [
        {"item": f"d:{i}", "judge": "j", "run": 1, "dimension": "Empathy", "order": "AB",
         "answer": ans, "winner": win}
        for i, (ans, win) in enumerate([("A", "a"), ("B", "b"), ("tie", "tie"), ("A", "a")])
    ]  # fmt: skip
    for name, flip in (("one", False), ("two", True)):
        (tmp_path / name).mkdir()
        lines = [dict(r, winner="b") if flip and r["item"] == "d:3" else r for r in rows]
        (tmp_path / name / "judgments.jsonl").write_text(
            "".join(json.dumps(x) + "\n" for x in lines)
        )
    code, out, err = in_process(
        monkeypatch, capsys, "judge", "agreement", str(tmp_path / "one"), str(tmp_path / "two")
    )
    assert code == 0, err
    assert "75.0%" in out  # 3 of 4 the same
    code, _, err = in_process(
        monkeypatch, capsys, "judge", "agreement", str(tmp_path / "one"), str(tmp_path / "no")
    )
    assert code == 2 and "no such file" in err
