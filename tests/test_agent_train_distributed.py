"""The distributed path: ``accelerate launch`` with the shipped 2-process config trains a tiny
Llama on 2 CPU processes (gloo), and the folder says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_models import FIXTURE, llama_dir

from sweetiechat.agents.tuned import read_agent_info

pytestmark = pytest.mark.slow

CONFIG = Path(__file__).resolve().parents[1] / "examples" / "accelerate" / "cpu-2proc.yaml"


def test_two_cpu_processes_on_gloo_train_one_adapter(tmp_path):
    accelerate = Path(sys.executable).with_name("accelerate")
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    args = ["--data", str(FIXTURE), "--valid", str(FIXTURE), "--valid-limit", "1"]
    args += ["--base-model", str(llama_dir()), "--out", str(out), "--max-steps", "2"]
    args += ["--eval-steps", "2", "--max-length", "128", "--quiet"]
    launch = [str(accelerate), "launch", "--config_file", str(CONFIG), "-m", "sweetiechat"]
    done = subprocess.run(
        [*launch, "agent", "train", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("Agent training") == 1  # only the main process reports
    metrics = json.loads((out / "metrics.json").read_text())["train"]
    assert metrics["processes"] == 2 and metrics["steps"] == 2
    # both processes fed the model: 8 examples' tokens, more than any 4 (one process's share)
    lengths = sorted((len(ids) for ids in _example_ids()), reverse=True)
    assert metrics["tokens_seen"] > sum(lengths[:4])
    assert (out / "adapter_model.safetensors").is_file()
    assert read_agent_info(out).trained_steps == 2


def _example_ids() -> list[list[int]]:
    from transformers import AutoTokenizer

    from sweetiechat.io import read_dialogues
    from sweetiechat.trainer.agent_data import encode_dialogues

    tok = AutoTokenizer.from_pretrained(llama_dir())
    examples, _ = encode_dialogues(tok, list(read_dialogues(FIXTURE)), max_length=128)
    return [e["input_ids"] for e in examples]
