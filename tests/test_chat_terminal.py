"""``sweetiechat chat`` as a person uses it: the real program in a pseudo-terminal on the
embedded model, and the terminal loop on fake models."""

from __future__ import annotations

import io
import itertools
import os
import re
import signal
import sys
import time
from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from rich.console import Console

from sweetiechat.agents import StrategyChoice
from sweetiechat.chat import ChatSession
from sweetiechat.cli.chat import run_terminal
from sweetiechat.io import read_dialogues
from sweetiechat.taxonomy import Strategy

pexpect = pytest.importorskip("pexpect")
EXE = Path(sys.executable).with_name("sweetiechat")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def spawn(args: list[str], timeout: int) -> pexpect.spawn:
    """``sweetiechat ARGS`` in a pseudo-terminal, as a shell starts a program in the
    foreground: with Ctrl-C's default action, even when this test run ignores SIGINT (a
    background job of a script does, and a child would inherit that and never see Ctrl-C)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "120", "TERM": "xterm"}
    child = pexpect.spawn(
        str(EXE),
        args,
        env=env,
        encoding="utf-8",
        timeout=timeout,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    child.delayafterterminate = 2  # a loaded machine can take over 0.1 s to end a torch process
    return child


class Picky:
    name = "picky"

    async def aselect(self, dialogue):
        probs = dict.fromkeys(Strategy, 0.05)
        probs[Strategy.AFFIRMATION] = 0.65
        return StrategyChoice(Strategy.AFFIRMATION, probabilities=probs)


def lines(*said: str):
    feed = iter(said)

    def read(prompt: str) -> str:
        try:
            return next(feed)
        except StopIteration:
            raise EOFError from None

    return read


def terminal(session, out, *said):
    screen = io.StringIO()
    run_terminal(session, out, console=Console(file=screen, width=100), read=lines(*said))
    return screen.getvalue()


def session(counselor=None):
    model = GenericFakeChatModel(messages=itertools.cycle(["You did well to ask."]))
    return ChatSession(model, counselor=counselor, dialogue_id="t")


def test_commands_and_quit_save_the_transcript(tmp_path):
    out, extra = tmp_path / "chat.jsonl", tmp_path / "copy.jsonl"
    screen = terminal(
        session(Picky()),
        out,
        "I finally asked for help.",
        "/strategy",
        "/bogus",
        "/help",
        f"/save {extra}",
        "/quit",
        "never read",
    )
    assert "agent [Affirmation and Reassurance]> You did well to ask." in screen
    assert "Affirmation and Reassurance <" in screen and "0.650" in screen
    assert "unknown command /bogus" in screen and "/strategy" in screen
    for path in (out, extra):
        (d,) = read_dialogues(path)
        assert [t.role for t in d.turns] == ["seeker", "supporter"]
        assert d.turns[1].strategy is Strategy.AFFIRMATION


def test_end_of_input_saves_and_strategy_without_counselor_says_how(tmp_path):
    out = tmp_path / "chat.jsonl"
    screen = terminal(session(), out, "/strategy", "Hello there.")
    assert "No counselor" in screen and "--counselor" in screen
    assert len(next(read_dialogues(out)).turns) == 2  # saved at EOF


def test_nothing_said_nothing_saved(tmp_path):
    out = tmp_path / "chat.jsonl"
    assert "nothing said" in terminal(session(), out, "/quit")
    assert not out.exists()


@pytest.mark.slow
def test_the_real_program_in_a_terminal(tmp_path):
    """Type into ``sweetiechat chat`` on the embedded model with a trained counselor, read
    the screen: the reply streams, a crisis message gets the safe reply with the locale's
    resources, /strategy shows the probabilities, Ctrl-C saves the transcript."""
    from tiny_models import trained

    counselor = trained("classifier")
    out = tmp_path / "me.jsonl"
    args = ["chat", "--max-tokens", "14", "--temperature", "0", "--locale", "en-GB"]
    args += ["--counselor", str(counselor), "--out", str(out)]
    child = spawn(args, timeout=600)
    try:
        child.expect("you> ")
        child.sendline("I can't sleep before my exams.")
        child.expect(r"agent \[[A-Za-z ]+\]>")  # the counselor's pick, then the reply
        arrivals = []  # (seconds, text) each time the screen changes
        screen = ""
        while "you> " not in screen:
            child.expect(r"[\s\S]+", timeout=300)  # whatever has arrived
            arrivals.append((time.monotonic(), child.after))
            screen += child.after
        reply = ANSI.sub("", screen).split("\r\n")[0]
        assert reply.strip(), screen
        words = [p for _, p in arrivals if re.search("[A-Za-z]", ANSI.sub("", p))]
        assert len(words) >= 2, arrivals  # the reply came in pieces, not at once
        assert arrivals[-1][0] > arrivals[0][0]

        child.sendline("I want to kill myself tonight.")
        child.expect("you> ")
        crisis = ANSI.sub("", child.before)
        assert "Samaritans" in crisis and "116 123" in crisis, crisis
        assert "suicidal_ideation" in crisis

        child.sendline("/strategy")
        child.expect("you> ")
        table = ANSI.sub("", child.before)
        assert "P(strategy" in table and "Question" in table and "<" in table, table

        child.sendintr()  # Ctrl-C at the prompt, once (tests/test_line_input.py: whichever
        child.expect(pexpect.EOF, timeout=120)  # thread the signal reaches)
        assert "saved" in child.before
        assert child.wait() == 0  # it ends by itself
    finally:
        child.close(force=True)
    (d,) = read_dialogues(out)
    assert [t.role for t in d.turns] == ["seeker", "supporter"] * 2
    assert d.turns[1].text.startswith(reply.strip()[:20])
    assert d.meta.crisis and d.meta.safety["category"] == "suicidal_ideation"
    assert all(t.strategy is not None for t in d.turns[1::2])
    assert d.meta.models["counselor"] != "none"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--adapter", "/no/such/agent"], "/no/such/agent: no such adapter folder"),
        (["--counselor", "/no/such/counselor"], "no such counselor folder"),
        (["--problem-type", "zzz"], "--problem-type: unknown problem type 'zzz'"),
        (["--max-tokens", "0"], "--max-tokens must be at least 1"),
    ],
)
def test_bad_flags_are_one_line_errors(flags, message):
    import subprocess

    done = subprocess.run([str(EXE), "chat", *flags], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done
    assert message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_ctrl_c_reaching_a_worker_thread_still_ends_the_chat(tmp_path):
    """The kernel may hand Ctrl-C's SIGINT to any thread of the program; sent straight to
    one of its worker threads, it must still end the chat at the prompt (with ``input()``
    it waited forever)."""
    import ctypes

    tgkill = getattr(ctypes.CDLL(None), "tgkill", None)
    if tgkill is None:
        pytest.skip("no tgkill in this C library")
    child = spawn(["chat", "--max-tokens", "8", "--out", str(tmp_path / "me.jsonl")], timeout=300)
    try:
        child.expect("you> ")
        workers = [int(t) for t in os.listdir(f"/proc/{child.pid}/task") if int(t) != child.pid]
        if not workers:
            pytest.skip("the program runs no other thread here")
        assert tgkill(child.pid, workers[-1], signal.SIGINT) == 0
        child.expect(pexpect.EOF, timeout=60)
        assert "nothing said" in child.before
        assert child.wait() == 0
    finally:
        child.close(force=True)
