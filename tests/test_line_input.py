"""``read_line``: the chat's prompt reads lines like ``input()``, and Ctrl-C ends the wait
even when the signal is delivered to another thread of the process."""

from __future__ import annotations

import io
import os
import signal
import threading

import pytest

from sweetiechat.cli.line_input import read_line


@pytest.fixture
def tty():
    """A pseudo-terminal: (what the program reads, where the person types)."""
    main, side = os.openpty()
    reader = open(side, encoding="utf-8")  # noqa: SIM115 - closed below
    try:
        yield reader, main
    finally:
        reader.close()
        os.close(main)


@pytest.fixture
def default_sigint():
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_reads_lines_one_at_a_time_like_input(tty):
    reader, typing = tty
    os.write(typing, "first line\nsecond, pasted with it\nthird ünïcode\n".encode())
    out = io.StringIO()
    said = [read_line("you> ", reader, out) for _ in range(3)]
    assert said == ["first line", "second, pasted with it", "third ünïcode"]
    assert out.getvalue() == "you> " * 3


def test_ctrl_d_on_an_empty_line_is_end_of_input(tty):
    reader, typing = tty
    os.write(typing, b"\x04")  # Ctrl-D
    with pytest.raises(EOFError):
        read_line("you> ", reader, io.StringIO())


def test_ctrl_c_taken_by_another_thread_still_interrupts(tty, default_sigint):
    """The hang this guards against: with ``input()`` the main thread kept waiting."""
    reader, typing = tty
    taken_by = []

    def press_ctrl_c_in_this_thread():
        taken_by.append(threading.get_ident())
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)

    other = threading.Timer(0.3, press_ctrl_c_in_this_thread)
    rescued = threading.Event()

    def press_enter():  # so that a failure cannot hang the test suite
        rescued.set()
        os.write(typing, b"\n")

    rescue = threading.Timer(30, press_enter)
    other.start()
    rescue.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            read_line("you> ", reader, io.StringIO())
    finally:
        rescue.cancel()
        other.join()
    assert taken_by and taken_by[0] != threading.main_thread().ident
    assert not rescued.is_set(), "Ctrl-C was only seen once Enter was pressed"
    assert signal.set_wakeup_fd(-1) == -1  # the previous wake-up descriptor is back


def test_ctrl_c_in_the_main_thread_interrupts(tty, default_sigint):
    reader, _ = tty
    main = threading.main_thread().ident
    assert main is not None
    other = threading.Timer(0.3, signal.pthread_kill, (main, signal.SIGINT))
    other.start()
    with pytest.raises(KeyboardInterrupt):
        read_line("you> ", reader, io.StringIO())
    other.join()


def test_not_a_terminal_falls_back_to_input(monkeypatch):
    monkeypatch.setattr("builtins.input", lambda prompt: f"typed after {prompt}")
    assert read_line("you> ", io.StringIO("ignored\n"), io.StringIO()) == "typed after you> "
