"""``sweetiechat clean`` end to end: a file generated against the test server, the
off-scenario filter with the real MiniLM, and the errors a user can hit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sweetiechat.config import GenerationConfig
from sweetiechat.generate import generate_dialogues
from sweetiechat.io import write_dialogues
from sweetiechat.quality.clean_models import ModelChecks
from sweetiechat.quality.filters import REASONS, CleanConfig, check_rules
from sweetiechat.quality.semantic import semantic_available
from sweetiechat.testing import OpenAITestServer
from sweetiechat.types import Dialogue, Turn

pytestmark = pytest.mark.skipif(not semantic_available(), reason="needs MiniLM (safety extra)")


def sweetiechat(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sweetiechat", *args],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"},
    )


def run_main(capsys, *args: str) -> tuple[int, str, str]:
    """The console script in this process (no interpreter start): exit code, out, err."""
    from sweetiechat.cli import main

    argv = sys.argv
    sys.argv = ["sweetiechat", *args]
    try:
        with pytest.raises(SystemExit) as exited:
            main()
    finally:
        sys.argv = argv
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    """Twelve dialogues from the test server, plus two planted copies under new ids."""
    out = tmp_path_factory.mktemp("gen") / "gen.jsonl"
    with OpenAITestServer() as server:
        config = GenerationConfig.model_validate(
            {
                "defaults": {
                    "backend": "openai",
                    "base_url": server.base_url,
                    "model": "test-model",
                    "api_key_env": "",
                    "timeout": 2,
                    "attempts": 4,
                    "wait_max": 0.05,
                },
                "counselor": {"kind": "prompted"},
                "max_seeker_turns": 5,
                "min_seeker_turns": 2,
            }
        )
        generate_dialogues(12, out, config)
    lines = out.read_text().splitlines()
    copies = []
    long_enough = [line for line in lines if len(json.loads(line)["turns"]) >= 4]
    for i, line in enumerate(long_enough[:2]):
        record = json.loads(line)
        record["meta"]["copied_from"] = record["id"]
        record["id"] = f"copy-{i}"
        copies.append(json.dumps(record))
    out.write_text("\n".join(lines + copies) + "\n")
    return out


@pytest.fixture(scope="module")
def encoder():
    from sweetiechat.quality.embedding import MiniLM

    return MiniLM(max_length=256)


SCENARIO = (
    "Last month I was laid off from the warehouse where I worked for six years, and I have "
    "been hiding it from my wife because I am ashamed."
)


def _dialogue(id: str, seeker: list[str], scenario: str | None = SCENARIO) -> Dialogue:
    turns = []
    for text in seeker:
        turns += [
            Turn(role="seeker", text=text),
            Turn(role="supporter", text="I hear you. Tell me more.", strategy="Question"),
        ]
    return Dialogue(id=id, problem_type="Job Crisis", scenario=scenario, turns=turns)


@pytest.mark.slow
def test_off_scenario_with_minilm(encoder):
    on = _dialogue(
        "on",
        [
            "I lost my job at the warehouse and I still haven't told my wife.",
            "I pretend to go to work every morning because I'm ashamed of being laid off.",
        ],
    )
    off = _dialogue(
        "off",
        [
            "What is the best way to bake sourdough bread at home?",
            "My oven runs hot and the crust always burns before the middle is done.",
        ],
    )
    none = _dialogue("none", ["I lost my job."], scenario=None)
    config = CleanConfig(disable=["role_inconsistency", "near_duplicate", "unsafe_supporter"])
    checks = ModelChecks(config, encoder=encoder)
    verdicts = [check_rules(d, config) for d in (on, off, none)]
    checks.run(verdicts)
    assert [v.reasons for v in verdicts] == [[], ["off_scenario"], ["too_short"]]
    assert "similarity to the scenario" in verdicts[1].details["off_scenario"]
    assert checks.finish_notes() == [
        "off_scenario: 1 dialogue(s) without a scenario were not checked"
    ]
    strict = CleanConfig(disable=config.disable, scenario_threshold=0.95)
    verdicts = [check_rules(on, strict)]
    ModelChecks(strict, encoder=encoder).run(verdicts)
    assert verdicts[0].reasons == ["off_scenario"]


def test_shipped_role_detector_catches_a_seeker_who_consoles():
    from sweetiechat.quality.roles import RoleDetector

    sliding = _dialogue(
        "sliding",
        [
            "I lost my job at the warehouse and I haven't told my wife.",
            "I'm so sorry you're going through this. Have you tried talking to someone about "
            "how you feel?",
        ],
    )
    steady = _dialogue(
        "steady",
        [
            "I lost my job at the warehouse and I haven't told my wife.",
            "I pretend to go to work every morning and sit in the library all day.",
        ],
    )
    config = CleanConfig(
        disable=["off_scenario", "near_duplicate", "unsafe_supporter"], role_min_turns=1
    )
    checks = ModelChecks(config, role_detector=RoleDetector.load())
    verdicts = [check_rules(d, config) for d in (sliding, steady)]
    checks.run(verdicts)
    assert [v.reasons for v in verdicts] == [["role_inconsistency"], []]
    assert "turn 2" in verdicts[0].details["role_inconsistency"]


@pytest.mark.slow
def test_clean_end_to_end_on_a_test_server_file(generated, tmp_path, capsys):
    out, report_dir = tmp_path / "clean.jsonl", tmp_path / "report"
    # The test server's seeker lines are generic, so most score 0.1-0.2 against their
    # scenario: a low threshold keeps the filter running without rejecting them.
    args = ["--scenario-threshold", "-0.5", "--no-semantic-safety"]
    r = sweetiechat("clean", str(generated), "-o", str(out), "--report", str(report_dir), *args)
    assert r.returncode == 0, r.stderr
    report = json.loads((report_dir / "report.json").read_text())
    assert report["input"] == 14 and report["kept"] + report["rejected"] == 14
    assert set(report["rejected_by"]) == set(REASONS)
    assert report["rejected_by"]["near_duplicate"] <= 2
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    rejected = [
        json.loads(line) for line in (report_dir / "rejected.jsonl").read_text().splitlines()
    ]
    ids = {json.loads(line)["id"] for line in generated.read_text().splitlines()}
    assert {d["id"] for d in kept} | {d["id"] for d in rejected} == ids
    # a copy of a kept dialogue is a near-duplicate; a copy of a rejected one is rejected too
    kept_ids = {d["id"] for d in kept}
    copies = {d["id"]: d for d in rejected if d["id"].startswith("copy-")}
    assert set(copies) == {"copy-0", "copy-1"}
    for copy in copies.values():
        if copy["meta"]["copied_from"] in kept_ids:
            assert copy["reasons"] == ["near_duplicate"]
            assert copy["meta"]["copied_from"] in copy["details"]["near_duplicate"]
    assert all(set(d["reasons"]) <= set(REASONS) for d in rejected)
    # the test server writes well-formed scenarios and profiles
    assert report["rejected_by"]["malformed_scenario"] == 0
    assert report["rejected_by"]["malformed_profile"] == 0
    png = (report_dir / "reasons.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    assert "near_duplicate" in r.stdout and f"{report['kept']} kept" in r.stdout
    # OUT exists now: refused without --force
    code, _, err = run_main(
        capsys, "clean", str(generated), "-o", str(out), "--report", str(report_dir), *args
    )
    assert code == 2 and "already exists; pass --force" in err


def test_file_without_scenarios_skips_the_filter_with_a_note(tmp_path, capsys):
    source = tmp_path / "plain.jsonl"
    write_dialogues(
        source,
        [_dialogue(f"d{i}", [f"My exam {i} went badly.", "I failed it."], None) for i in range(3)],
    )
    code, out, err = run_main(
        capsys,
        *("clean", str(source), "-o", str(tmp_path / "o.jsonl"), "--report", str(tmp_path / "r")),
        *("--disable", "role_inconsistency", "--no-semantic-safety", "--dup-threshold", "0.99"),
    )
    assert code == 0, err
    assert "off_scenario skipped: no dialogue in the file has a scenario" in out
    notes = json.loads((tmp_path / "r" / "report.json").read_text())["notes"]
    assert notes == ["off_scenario skipped: no dialogue in the file has a scenario"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--dup-threshold", "1.5"],
            "error: --dup-threshold: Input should be less than or equal to 1",
        ),
        (["--scenario-threshold", "-3"], "error: --scenario-threshold: Input should be greater"),
        (["--disable", "typo"], "unknown filter(s) in disable: typo"),
        (["--recognizer", "no/such/dir"], "error: --recognizer no/such/dir: no such folder"),
        (["--role-model", "no/such/dir"], "error: --role-model no/such/dir: no such folder"),
        (["--role-llm", "gpt"], "error: --role-llm gpt: choose embedded or openai"),
    ],
)
def test_bad_settings_are_one_line_errors(generated, tmp_path, capsys, args, message):
    out = tmp_path / "o.jsonl"
    code, _, err = run_main(
        capsys, "clean", str(generated), "-o", str(out), "--report", str(tmp_path / "r"), *args
    )
    assert code == 2 and message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_bad_line_names_file_and_line(generated, tmp_path, capsys):
    source = tmp_path / "broken.jsonl"
    lines = generated.read_text().splitlines()
    source.write_text("\n".join([lines[0], '{"id": "x", "turns": 3}', *lines[1:]]) + "\n")
    out = tmp_path / "o.jsonl"
    code, _, err = run_main(
        capsys,
        "clean",
        str(source),
        "-o",
        str(out),
        "--report",
        str(tmp_path / "r"),
        "--disable",
        "role_inconsistency",
        "--disable",
        "off_scenario",
    )
    assert code == 2 and f"{source}:2: field" in err, err
    assert "Traceback" not in err and not out.exists()


def test_recognizer_reports_strategy_adherence(tmp_path, capsys):
    from quality_fixtures import frozen_recognizer

    source = tmp_path / "in.jsonl"
    write_dialogues(
        source,
        [
            _dialogue(f"d{i}", [f"My exam {i} went badly and I failed.", "I feel stupid."])
            for i in range(3)
        ],
    )
    report_dir = tmp_path / "r"
    code, out, err = run_main(
        capsys,
        *("clean", str(source), "-o", str(tmp_path / "o.jsonl"), "--report", str(report_dir)),
        *("--disable", "role_inconsistency", "--disable", "off_scenario"),
        *("--disable", "near_duplicate", "--no-semantic-safety"),
        *("--recognizer", str(frozen_recognizer())),
    )
    assert code == 0, err
    adherence = json.loads((report_dir / "adherence.json").read_text())
    assert json.loads((report_dir / "report.json").read_text())["adherence"] == adherence
    assert 0.0 <= adherence["overall"] <= 1.0
    assert adherence["counts"]["Question"] == 6  # every kept supporter turn, per strategy
    assert sum(adherence["counts"].values()) == 6
    assert "strategy adherence:" in out


@pytest.mark.parametrize(("answer", "rejected"), [("supporter", True), ("seeker", False)])
def test_role_llm_confirms_or_clears_flagged_turns(answer, rejected):
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    from sweetiechat.quality.roles import RoleDetector

    sliding = _dialogue(
        "sliding",
        [
            "I lost my job at the warehouse and I haven't told my wife.",
            "I'm so sorry you're going through this. Have you tried talking to someone about "
            "how you feel?",
        ],
    )
    config = CleanConfig(
        disable=["off_scenario", "near_duplicate", "unsafe_supporter"], role_min_turns=1
    )
    model = FakeListChatModel(responses=[answer])
    checks = ModelChecks(config, role_detector=RoleDetector.load(), role_backend=model)
    verdicts = [check_rules(sliding, config)]
    checks.run(verdicts)
    assert ("role_inconsistency" in verdicts[0].reasons) is rejected
