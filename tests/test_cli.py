"""The console script, run as a user runs it: one-line errors, exit codes, no tracebacks."""

import subprocess
import sys

import pytest

from sweetiechat import __version__


def sweetiechat(*args: str, cwd=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sweetiechat", *args], capture_output=True, text=True, cwd=cwd
    )


def test_version_and_help():
    assert sweetiechat("--version").stdout.strip() == f"sweetiechat {__version__}"
    out = sweetiechat("--help")
    assert out.returncode == 0
    for command in ("stats", "data", "generate"):
        assert command in out.stdout


def test_import_validate_and_export(esconv_small, tmp_path):
    out = tmp_path / "conv.jsonl"
    r = sweetiechat("data", "import-esconv", str(esconv_small), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "wrote 3 dialogues" in r.stdout
    r = sweetiechat("data", "validate", str(out))
    assert r.returncode == 0 and "3 valid dialogue(s)" in r.stdout
    r = sweetiechat("data", "validate", "--alternating", str(out))
    assert r.returncode == 1 and "are both by the" in r.stderr
    assert f"{out}:1: dialogue" in r.stderr  # FILE:LINE, not a record number
    assert "(record" not in r.stderr and "valid dialogue(s)" in r.stderr
    merged = tmp_path / "merged.jsonl"
    r = sweetiechat("data", "merge-consecutive", str(out), "-o", str(merged))
    assert r.returncode == 0 and "wrote 3 alternating dialogues" in r.stdout, r.stderr
    r = sweetiechat("data", "validate", "--alternating", str(merged))
    assert r.returncode == 0 and "3 valid dialogue(s)" in r.stdout


@pytest.mark.parametrize(
    "content, expect",
    [
        (b'{"id": "a", "problem_type": "Burnout", "turns": []}\n{oops}\n', ":2: not valid JSON"),
        (
            b'{"id": "a", "problem_type": "Burnout", "turns": [{"role": "supporter", "text": "x", '
            b'"strategy": "Hugging"}]}\n',
            ":1: field 'turns.0.strategy': unknown strategy",
        ),
        (b'{"id": "a", "problem_type": "Burnout"}\n', ":1: missing field 'turns'"),
        (b"", ": file is empty"),
        (b'{"id": "a", "problem_type": "Burnout", "turns": []}\n\xff\n', ":2: not UTF-8"),
    ],
)
@pytest.mark.parametrize("command", ["stats", "data validate", "data import-esconv"])
def test_bad_input_gives_one_line_error(tmp_path, content, expect, command):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    args = [*command.split(), str(path)]
    if command == "data import-esconv":
        args += ["-o", str(tmp_path / "o.jsonl")]
    r = sweetiechat(*args)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    assert str(path) in r.stderr and expect in r.stderr
    assert not (tmp_path / "o.jsonl").exists()  # nothing half-written


def test_missing_path_is_a_clear_error(tmp_path):
    r = sweetiechat("stats", str(tmp_path / "missing.jsonl"))
    assert r.returncode == 2
    assert "missing.jsonl: no such file" in r.stderr
    assert "Traceback" not in r.stderr


def test_unknown_tokenizer(esconv_small):
    r = sweetiechat("stats", "--tokenizer", "bpe9", str(esconv_small))
    assert r.returncode == 2 and "unknown tokenizer 'bpe9'" in r.stderr


def test_error_text_with_brackets_is_printed_verbatim(tmp_path):
    path = tmp_path / "b.jsonl"
    path.write_text(
        '{"id": "a", "problem_type": "Burnout", "turns": [{"role": "supporter", '
        '"text": "x", "strategy": "[bold]Hugging"}]}\n'
    )
    r = sweetiechat("data", "validate", str(path))
    assert r.returncode == 1
    assert "unknown strategy '[bold]Hugging'" in r.stderr


def test_render_dialogue_escapes_model_text():
    from rich.console import Console

    from sweetiechat.cli.generate import render_dialogue
    from sweetiechat.types import Dialogue, Turn

    d = Dialogue(
        id="x",
        problem_type="Burnout",
        scenario="[red]x",
        profile="p",
        turns=[
            Turn(role="seeker", text="Bye [END] [/bold]"),
            Turn(role="supporter", text="ok", strategy="Others"),
        ],
    )
    console = Console(record=True, width=120)
    console.print(render_dialogue(d))
    text = console.export_text()
    assert "Bye [END] [/bold]" in text and "[red]x" in text and "[Others] ok" in text


def test_test_server_lists_fault_kinds_and_rejects_unknown_ones():
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sweetiechat.testing", *args], capture_output=True, text=True
        )

    help_text = run("--help")
    assert help_text.returncode == 0
    for kind in ("rate_limit", "server_error", "hang", "malformed_json", "empty_content"):
        assert kind in help_text.stdout
    bad = run("--faults", "bogus")
    assert bad.returncode == 2
    assert "unknown fault kind(s) bogus; choose from rate_limit" in bad.stderr
    assert "Traceback" not in bad.stderr
