"""Sharded generation: shards never collide, merge checks that they belong together."""

import json
import subprocess
import sys

import pytest

from sweetiechat.config import GenerationConfig
from sweetiechat.errors import ConfigError, UserError
from sweetiechat.generate import generate_dialogues, run_folder
from sweetiechat.io import read_dialogues
from sweetiechat.shards import Shard, merge_shards, parse_shard
from sweetiechat.testing import OpenAITestServer


def config(url: str, **kw) -> GenerationConfig:
    return GenerationConfig.model_validate(
        {
            "defaults": {
                "backend": "openai",
                "base_url": url,
                "model": "test-model",
                "api_key_env": "",
                "timeout": 2.0,
                "wait_max": 0.05,
            },
            "counselor": {"kind": "prompted"},
            "max_seeker_turns": 2,
            "min_seeker_turns": 2,
            "concurrency": 3,
            **kw,
        }
    )


@pytest.mark.parametrize("text", ["3/2", "0/0", "0/2", "1/0", "2", "a/b", "1/2/3", "-1/2"])
def test_malformed_or_out_of_range_shards_are_refused(text):
    with pytest.raises(ConfigError, match=r"--shard .*K/N"):
        parse_shard(text)


def test_shards_partition_the_indices():
    n = 17
    parts = [parse_shard(f"{k}/4") for k in range(1, 5)]
    indices = [i for part in parts for i in part.indices(n)]
    assert sorted(indices) == list(range(n))
    assert all(part.owns(i) for part in parts for i in part.indices(n))


def test_shards_merge_into_the_single_process_run_ids(tmp_path):
    n = 7
    with OpenAITestServer() as server:
        cfg = config(server.base_url, seed=3)
        whole = tmp_path / "whole.jsonl"
        generate_dialogues(n, whole, cfg)
        outs = []
        for k in (1, 2, 3):
            out = tmp_path / f"part{k}.jsonl"
            state = generate_dialogues(n, out, cfg, shard=Shard(k, 3))
            assert state.requested == len(Shard(k, 3).indices(n))
            outs.append(out)
    assert {d.id for d in read_dialogues(outs[1])} == {"sc3-000001", "sc3-000004"}
    merged = tmp_path / "merged.jsonl"
    report = merge_shards(merged, outs)
    ids = [d.id for d in read_dialogues(merged)]
    assert report.written == n and not report.missing
    assert ids == sorted(ids) == sorted(d.id for d in read_dialogues(whole))
    assert json.loads((run_folder(merged) / "run.json").read_text())["merged_from"]


def test_a_shard_resumes_on_its_own_and_refuses_another_shard(tmp_path):
    with OpenAITestServer() as server:
        cfg = config(server.base_url)
        out = tmp_path / "p.jsonl"
        generate_dialogues(4, out, cfg, shard=Shard(1, 2))
        with pytest.raises(ConfigError, match="--shard 1/2"):
            generate_dialogues(4, out, cfg, shard=Shard(2, 2), resume=True)
        state = generate_dialogues(8, out, cfg, shard=Shard(1, 2), resume=True)
    assert state.skipped == 2 and state.written == 2


def test_merge_refuses_other_runs_duplicates_and_says_how_to_resume_missing(tmp_path):
    with OpenAITestServer() as server:
        a1, a2 = tmp_path / "a1.jsonl", tmp_path / "a2.jsonl"
        generate_dialogues(4, a1, config(server.base_url), shard=Shard(1, 2))
        generate_dialogues(4, a2, config(server.base_url), shard=Shard(2, 2))
        other = tmp_path / "b2.jsonl"
        generate_dialogues(4, other, config(server.base_url, max_seeker_turns=3), shard=Shard(2, 2))
    out = tmp_path / "m.jsonl"
    with pytest.raises(UserError, match=r"from another run .*max_seeker_turns"):
        merge_shards(out, [a1, other])
    with pytest.raises(UserError, match=r"shard\(s\) 2/2 not given"):
        merge_shards(out, [a1])
    with pytest.raises(UserError, match="both shard 1/2"):
        merge_shards(out, [a1, a1])
    lines = a2.read_text().splitlines()
    a2.write_text(lines[0] + "\n")  # one of shard 2's dialogues is lost
    with pytest.raises(UserError) as info:
        merge_shards(out, [a1, a2])
    message = str(info.value)
    assert "lacks 1 dialogue(s)" in message and "--shard 2/2 --resume" in message
    assert not out.exists()


def test_cli_shard_errors_are_one_line(tmp_path):
    for bad in ("3/2", "0/0", "x"):
        r = subprocess.run(
            [sys.executable, "-m", "sweetiechat", "generate", "-n", "2", "-o",
             str(tmp_path / "x.jsonl"), "--shard", bad],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert r.returncode == 2, r.stderr
        assert "K/N" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x.jsonl").exists()
