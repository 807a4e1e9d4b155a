"""``sweetiechat counselor train|eval`` and trained counselors inside ``sweetiechat generate``,
run through the console entry point (one-line errors, exit status 2, no traceback)."""

from __future__ import annotations

import json
import sys

import pytest
from tiny_models import FIXTURE, bert_dir, data_dir, llama_dir, trained

from helpers import one_line_error
from sweetiechat.agents.trained import load_trained_counselor
from sweetiechat.io import read_dialogues
from sweetiechat.testing import OpenAITestServer
from sweetiechat.trainer import strategy_examples

pytestmark = pytest.mark.slow


def test_train_a_classifier_from_the_command_line_then_evaluate_it(cli, tmp_path):
    out = tmp_path / "cls"
    code, stdout, err = cli(
        "counselor", "train", "--kind", "classifier", "--data", str(data_dir()),
        "--base-model", str(bert_dir()), "--out", str(out), "--max-steps", "2",
        "--eval-steps", "2", "--limit", "2", "--class-weights", "sqrt", "--seed", "3",
        "--lr", "1e-3", "--input-window", "4", "--no-emotion", "--quiet",
    )  # fmt: skip
    assert code == 0, err
    assert "Counselor training" in stdout and "valid: accuracy" in stdout
    config = json.loads((out / "training_config.json").read_text())
    assert config["seed"] == 3 and config["class_weights"] == "sqrt" and config["limit"] == 2
    assert config["input"]["window"] == 4 and config["input"]["emotion"] is False
    assert config["learning_rate"] == 1e-3 and config["warmup_ratio"] == 0.01
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["train"]["examples"]["train"] == 10  # first 2 dialogues: 6 + 4 turns

    ev = tmp_path / "ev"
    code, stdout, err = cli(
        "counselor", "eval", "--data", str(FIXTURE), "--counselor", str(out), "--out", str(ev),
        "--quiet",
    )  # fmt: skip
    assert code == 0, err
    assert "macro-F1" in stdout and "Question" in stdout
    rows = [json.loads(line) for line in (ev / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 14
    assert set(rows[0]) >= {"dialogue_id", "turn_index", "gold", "pred", "probs"}
    counselor = load_trained_counselor(out)
    examples = strategy_examples(read_dialogues(FIXTURE))
    assert [r["pred"] for r in rows] == [
        c.strategy.value for c in counselor.select_batch([e.context for e in examples])
    ]
    saved = json.loads((ev / "metrics.json").read_text())
    assert saved["n"] == 14 and 0 <= saved["macro_f1"] <= 1
    assert list(ev.glob("*.png"))


def test_eval_zero_shot_and_prompted_counselors(cli, tmp_path):
    code, stdout, err = cli(
        "counselor", "eval", "--data", str(FIXTURE), "--counselor", "zero-shot",
        "--base-model", str(llama_dir()), "--out", str(tmp_path / "zs"), "--limit", "1", "--quiet",
    )  # fmt: skip
    assert code == 0, err
    metrics = json.loads((tmp_path / "zs" / "metrics.json").read_text())
    assert metrics["n"] == 6 and metrics["counselor"].startswith("likelihood:")
    with OpenAITestServer() as server:
        code, stdout, err = cli(
            "counselor", "eval", "--data", str(FIXTURE), "--counselor", "prompted:openai",
            "--base-url", server.base_url, "--model", "test-model", "--api-key-env", "",
            "--out", str(tmp_path / "pr"), "--quiet",
        )  # fmt: skip
    assert code == 0, err
    metrics = json.loads((tmp_path / "pr" / "metrics.json").read_text())
    assert metrics["n"] == 14 and metrics["counselor"].startswith("prompted:")


@pytest.mark.parametrize("kind", ["lm", "classifier"])
def test_a_trained_counselor_drives_generate_end_to_end(cli, tmp_path, kind):
    folder = trained(kind)
    counselor_section = (
        f'kind = "likelihood"\nadapter = "{folder}"'
        if kind == "lm"
        else f'kind = "classifier"\nfolder = "{folder}"'
    )
    out = tmp_path / "gen.jsonl"
    with OpenAITestServer() as server:
        config = tmp_path / "run.toml"
        config.write_text(
            "max_seeker_turns = 3\nmin_seeker_turns = 2\n"
            f'[defaults]\nbackend = "openai"\nbase_url = "{server.base_url}"\n'
            'model = "test-model"\napi_key_env = ""\n'
            f"[counselor]\n{counselor_section}\n"
        )
        code, stdout, err = cli("generate", "-n", "2", "-o", str(out), "--config", str(config))
    assert code == 0, err
    dialogues = list(read_dialogues(out))
    assert len(dialogues) == 2
    counselor = load_trained_counselor(folder)
    for d in dialogues:
        assert d.meta.models["counselor"] == counselor.name
        assert d.meta.counselor_fallbacks == 0
        # every strategy in the data is the trained counselor's own choice for that history
        for ex in strategy_examples([d]):
            assert counselor.select(ex.context).strategy is ex.gold


def test_bad_inputs_are_one_line_errors(cli, tmp_path):
    seekers = tmp_path / "seekers"
    seekers.mkdir()
    record = {"id": "a", "problem_type": "Burnout", "turns": [{"role": "seeker", "text": "Hi"}]}
    for split in ("train", "valid", "test"):
        (seekers / f"{split}.jsonl").write_text(json.dumps(record) + "\n")
    train = ("counselor", "train", "--out", str(tmp_path / "o"), "--quiet")
    code, _, err = cli(
        *train, "--kind", "classifier", "--data", str(seekers), "--base-model", str(bert_dir())
    )
    one_line_error(code, err, "train.jsonl: no supporter turn with a strategy")

    labels = tmp_path / "labels"
    labels.mkdir()
    lines = FIXTURE.read_text().splitlines()
    for split in ("train", "valid", "test"):
        (labels / f"{split}.json").write_text(
            "\n".join([lines[0], lines[1].replace('"Question"', '"Hugging"', 1)]) + "\n"
        )
    code, _, err = cli(
        *train, "--kind", "lm", "--data", str(labels), "--base-model", str(llama_dir())
    )
    one_line_error(code, err, f"{labels / 'train.json'}:2: field 'strategy': unknown strategy")
    assert "'Hugging'" in err

    code, _, err = cli(
        *train, "--kind", "lm", "--data", str(data_dir()), "--base-model", "/no/model"
    )
    one_line_error(code, err, "base model /no/model: no such folder")

    code, _, err = cli(*train, "--kind", "tree", "--data", str(data_dir()))
    one_line_error(code, err, "--kind 'tree': choose one of lm, classifier")

    ev = ("counselor", "eval", "--data", str(FIXTURE), "--out", str(tmp_path / "e"), "--quiet")
    code, _, err = cli(*ev, "--counselor", str(trained("lm")), "--base-model", str(llama_dir(1)))
    one_line_error(code, err, "was trained for base model")
    assert "num_hidden_layers=1" in err

    code, _, err = cli(*ev, "--counselor", str(trained("classifier")), "--kind", "lm")
    one_line_error(code, err, "holds a classifier counselor, not lm; use --kind classifier")

    code, _, err = cli(
        "counselor", "train", "--resume", "--kind", "lm", "--out", str(trained("classifier"))
    )
    one_line_error(code, err, "holds a classifier counselor, not lm; use --kind classifier")

    code, _, err = cli(*ev, "--counselor", str(tmp_path / "nothing"))
    one_line_error(code, err, "no such folder; give a trained folder, zero-shot or prompted")


def test_eval_with_a_prompted_server_that_does_not_answer_fails_in_one_line(tmp_path):
    import os
    import subprocess

    data = tmp_path / "one.jsonl"
    data.write_text(
        '{"id": "d", "problem_type": "Job Crisis", "turns": ['
        '{"role": "seeker", "text": "I lost my job."}, '
        '{"role": "supporter", "text": "What happened?", "strategy": "Question"}]}\n'
    )
    r = subprocess.run(
        [sys.executable, "-m", "sweetiechat", "counselor", "eval", "--data", str(data),
         "--counselor", "prompted:openai", "--model", "m", "--base-url",
         "http://127.0.0.1:1/v1", "--out", str(tmp_path / "ev")],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "OPENAI_API_KEY": "sk-dummy"},
    )  # fmt: skip
    assert r.returncode == 2
    assert "cannot reach http://127.0.0.1:1/v1" in r.stderr and "counselor" in r.stderr
    assert "Traceback" not in r.stderr
