"""Shared fixtures. No test may reach the network: the OpenAI key is a dummy and every
HTTP backend in the tests points at a server on 127.0.0.1."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
ESCONV_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "esconv"

os.environ.pop("OPENAI_API_KEY", None)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def esconv_small() -> Path:
    """Three ESConv-format dialogues (JSON-lines split form)."""
    return FIXTURES / "esconv_small.json"


@pytest.fixture
def esconv_original() -> Path:
    """The same three dialogues in the original ESConv.json array form."""
    return FIXTURES / "ESConv_small_original.json"


@pytest.fixture
def esconv_dir() -> Path:
    """The shared ESConv copy; tests that need it skip when it is absent."""
    if not (ESCONV_DIR / "train.json").exists():
        pytest.skip(f"ESConv is not at {ESCONV_DIR} (the shared data folder is absent)")
    return ESCONV_DIR


@pytest.fixture
def cli(monkeypatch, capsys):
    """Run the console script in-process: ``cli(*args) -> (exit status, stdout, stderr)``."""
    from helpers import run_cli

    return lambda *args: run_cli(monkeypatch, capsys, *args)
