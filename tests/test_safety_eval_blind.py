"""``benchmarks/safety_eval.py --blind`` (the lead's one scoring of the blind set) reads the
blind set only when asked and writes its table under the mark in docs/safety.md. Run here on
a stand-in file, never on the real blind set."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def safety_eval(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import safety_eval as module

    stand_in = tmp_path / "blind.jsonl"
    rows = [
        {"text": "I've been cutting myself again.", "category": "self_harm"},
        {"text": "My phone is dead.", "category": "none"},
    ]
    stand_in.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    doc = tmp_path / "safety.md"
    doc.write_text("# Safety\n\n### Blind set\n\n<!-- blind-results -->\n\n## Limits\n")
    monkeypatch.setattr(module, "BLIND", stand_in)
    monkeypatch.setattr(module, "DOC", doc)
    return module


def test_the_default_run_never_reads_the_blind_set(safety_eval, monkeypatch):
    monkeypatch.setattr(safety_eval, "BLIND", Path("/nonexistent/blind.jsonl"))
    rows = safety_eval.load()
    assert rows and {r["split"] for r in rows} == {"dev", "heldout", "fresh"}


def test_blind_writes_its_table_under_the_mark_once(safety_eval, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["safety_eval.py", "--blind"])
    monkeypatch.setattr(safety_eval, "SemanticLayer", lambda: None)
    monkeypatch.setattr(
        safety_eval,
        "methods",
        lambda semantic: {
            "patterns": lambda rows: [("cutting" in r["text"], "self_harm") for r in rows]
        },
    )
    safety_eval.main()
    safety_eval.main()  # a second run replaces the first table
    text = safety_eval.DOC.read_text()
    assert text.count("<!-- blind-results -->") == 1 and text.count("<!-- /blind-results -->") == 1
    assert text.count("| patterns | 1.000 | 1.000 | 0 / 0 |") == 1
    assert (
        text.index("<!-- blind-results -->") < text.index("| patterns |") < text.index("## Limits")
    )
