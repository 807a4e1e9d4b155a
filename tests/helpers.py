"""Test helpers: a recording wrapper around a backend, and ready-made agents on fakes."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models.fake_chat_models import FakeListChatModel

from sweetiechat.backends import ChatBackend, Completion, LangChainBackend


class Recording:
    """Wraps a backend and keeps the messages of every call."""

    def __init__(self, backend: ChatBackend) -> None:
        self.backend = backend
        self.name = backend.name
        self.calls: list[list[tuple[str, str]]] = []
        self.options: list[dict[str, Any]] = []

    async def acomplete(self, messages, **options) -> Completion:
        self.calls.append(list(messages))
        self.options.append(options)
        return await self.backend.acomplete(messages, **options)


def fake(*responses: str) -> Recording:
    """A recording backend over langchain_core's FakeListChatModel (cycles its responses)."""
    return Recording(LangChainBackend(FakeListChatModel(responses=list(responses))))


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """Run the console script in-process: (exit status, stdout, stderr)."""
    import sys

    from sweetiechat.cli import main

    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["sweetiechat", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def one_line_error(code: int, err: str, expect: str) -> None:
    """A CLI failure: status 2, one ``error:`` line holding ``expect``, no traceback."""
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert expect in " ".join(err.split()), err


# -- prompts for the embedded model ----------------------------------------------------------

SYSTEM = "You are a kind supporter. Answer briefly and warmly, in at most two sentences."
HISTORY = [
    "Seeker: I can't sleep before exams.",
    "Supporter: That sounds exhausting.",
    "Seeker: Yes, I keep thinking about failing.",
    "Supporter: What worries you most about it?",
    "Seeker: Disappointing my parents, mostly.",
]


def exam_request(lm, turns: int, max_new: int = 16):
    """A greedy request for the supporter's reply after the first ``turns`` lines of
    ``HISTORY`` (each such prompt extends the one before)."""
    from sweetiechat.backends.batching import GenRequest, Sampling
    from sweetiechat.backends.local import STOP_STRINGS

    tok = lm.tokenizer
    chat = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "\n".join(HISTORY[:turns]) + "\n\nWrite your reply."},
    ]
    prompt = tok.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
    ids = tok(prompt, add_special_tokens=False)["input_ids"]
    return GenRequest(ids, max_new, Sampling(0.0, 1.0, 1.15), STOP_STRINGS)
