"""Tiny data and models for the quality tests (recognizer, roles, enforcement): built once per
test process, in seconds (MiniLM embeddings of a few dozen sentences)."""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import tempfile
from pathlib import Path

from sweetiechat.taxonomy import Strategy
from sweetiechat.testing.script import _SUPPORT

#: Supporter responses per strategy: the test server's own line first, then paraphrases.
RESPONSES: dict[Strategy, list[str]] = {
    Strategy.QUESTION: [
        _SUPPORT[Strategy.QUESTION],
        "How long have you been feeling this way?",
        "What happened when you told your boss?",
        "Can you tell me more about what is worrying you?",
    ],
    Strategy.RESTATEMENT: [
        _SUPPORT[Strategy.RESTATEMENT],
        "So you are saying your friends stopped calling you.",
        "If I understand you, the move left you without anyone nearby.",
        "You mean the exam results came back lower than you hoped.",
    ],
    Strategy.REFLECTION: [
        _SUPPORT[Strategy.REFLECTION],
        "You sound really hurt and angry about it.",
        "It seems like you feel lonely and scared.",
        "I can hear how frustrated you are.",
    ],
    Strategy.SELF_DISCLOSURE: [
        _SUPPORT[Strategy.SELF_DISCLOSURE],
        "When I lost my job last year, I felt the same way.",
        "I had a friend who did that to me too, and it hurt.",
        "My own parents divorced when I was young, so I know a bit of that pain.",
    ],
    Strategy.AFFIRMATION: [
        _SUPPORT[Strategy.AFFIRMATION],
        "You are stronger than you think, and you will get through this.",
        "You did the right thing by speaking up.",
        "It's clear you are a caring person who tries hard.",
    ],
    Strategy.SUGGESTIONS: [
        _SUPPORT[Strategy.SUGGESTIONS],
        "You could try going for a short walk every morning.",
        "Maybe you should talk to your teacher about an extension.",
        "Have you thought about making a list of small goals for the week?",
    ],
    Strategy.INFORMATION: [
        _SUPPORT[Strategy.INFORMATION],
        "Research shows that regular exercise reduces anxiety.",
        "Most banks offer payment plans for people in debt.",
        "Insomnia affects about one in three adults at some point.",
    ],
    Strategy.OTHERS: [
        _SUPPORT[Strategy.OTHERS],
        "Hello, how are you today?",
        "You're welcome, take care.",
        "Hi there, nice to meet you.",
    ],
}
SEEKER = "I have been feeling down since I lost my job."


def dialogue_line(did: str, pairs: list[tuple[Strategy, str]]) -> str:
    """One sweetiechat JSON line: a seeker turn before each supporter turn."""
    turns = []
    for strategy, text in pairs:
        turns.append({"role": "seeker", "text": SEEKER})
        turns.append({"role": "supporter", "text": text, "strategy": strategy.value})
    return json.dumps({"id": did, "problem_type": "Job Crisis", "turns": turns})


def write_splits(folder: Path) -> Path:
    """train (all responses), valid and test (the first two of each strategy)."""
    folder.mkdir(parents=True, exist_ok=True)
    train = [dialogue_line(f"t{s.name}", [(s, r) for r in rs]) for s, rs in RESPONSES.items()]
    held = [dialogue_line(f"h{s.name}", [(s, r) for r in rs[:2]]) for s, rs in RESPONSES.items()]
    (folder / "train.jsonl").write_text("\n".join(train) + "\n")
    (folder / "valid.jsonl").write_text("\n".join(held) + "\n")
    (folder / "test.jsonl").write_text("\n".join(held) + "\n")
    return folder


@functools.cache
def _root() -> Path:
    path = Path(tempfile.mkdtemp(prefix="sweetiechat-quality-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@functools.cache
def data_dir() -> Path:
    """The tiny strategy splits, once per process."""
    return write_splits(_root() / "data")


@functools.cache
def frozen_recognizer() -> Path:
    """A frozen recognizer trained on :func:`data_dir`, once per process."""
    from sweetiechat.quality.recognizer_train import train_recognizer

    out = _root() / "recognizer"
    train_recognizer(data_dir(), out, kind="frozen", c_grid=(10.0,), progress=False)
    return out
