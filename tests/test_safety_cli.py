"""``sweetiechat safety check`` as a user runs it (a subprocess of the installed command)."""

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # each command loads MiniLM


def sweetiechat(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sweetiechat", *args], capture_output=True, text=True, timeout=600
    )


def test_check_one_message_as_json():
    r = sweetiechat("safety", "check", "I've decided, tonight I'm going to end it all.", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {
        "risk": True,
        "category": "suicidal_ideation",
        "score": 1.0,
        "layer": "pattern",
    }
    r = sweetiechat("safety", "check", "This deadline is killing me.", "--json", "--no-semantic")
    assert json.loads(r.stdout) == {
        "risk": False,
        "category": "none",
        "score": 0.0,
        "layer": "none",
    }


def test_check_reads_context_and_a_file_of_messages(tmp_path):
    args = ("safety", "check", "I bought a rope.", "-c", "I want it all to stop.", "--json")
    r = sweetiechat(*args)  # the fine-tuned layer (on by default) reads the earlier turn itself
    assert json.loads(r.stdout)["risk"] is True
    assert json.loads(r.stdout)["layer"] in ("finetuned", "context")
    r = sweetiechat(*args, "--no-finetuned")  # without it, the context rule flags it
    assert json.loads(r.stdout)["layer"] == "context"
    messages = tmp_path / "messages.txt"
    messages.write_text(
        "My phone is dead.\n\nI keep hurting myself on purpose.\nQuiero morir, ya no puedo más\n"
    )
    out = tmp_path / "verdicts.jsonl"
    r = sweetiechat("safety", "check", "--file", str(messages), "-o", str(out))
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(x["line"], x["risk"], x["layer"]) for x in rows] == [
        (1, False, "none"),
        (2, False, "empty"),
        (3, True, "pattern"),
        (4, True, "language"),
    ]
    assert "English only" in rows[3]["note"]
    r = sweetiechat("safety", "check", "--file", str(messages), "--no-semantic")
    assert len(r.stdout.splitlines()) == 4


def test_check_errors_are_one_line():
    r = sweetiechat("safety", "check")
    assert r.returncode == 2 and "give either a TEXT" in r.stderr and "Traceback" not in r.stderr
    r = sweetiechat("safety", "check", "--file", "/no/such/file.txt")
    assert r.returncode == 2 and "/no/such/file.txt: cannot read" in r.stderr
