"""Reading a line at the terminal so that Ctrl-C always reaches the reader.

``input()`` blocks in a read of standard input, and raises ``KeyboardInterrupt`` only when
the SIGINT of Ctrl-C interrupts that read. But the kernel gives a process's signal to any of
its threads that does not block it, and a chat process has several (the model's decoding
and prefill threads, torch's and the tokenizer's workers). When another thread takes it,
Python notes the signal for the main thread, which never looks: it is still waiting in
``input()``, and Ctrl-C seems to do nothing (this happened in a test run of
``sweetiechat chat``). :func:`read_line` waits on standard input and on Python's signal
wake-up descriptor together; the interpreter writes to that descriptor whichever thread
the signal lands on, so the main thread wakes up and raises ``KeyboardInterrupt`` at once.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import threading
from typing import TextIO

__all__ = ["read_line"]

_pending: dict[int, bytearray] = {}
"""Bytes read past the end of a line (pasted text), per file descriptor."""


def read_line(prompt: str, stdin: TextIO | None = None, out: TextIO | None = None) -> str:
    """Show ``prompt`` and read one line, as ``input(prompt)`` does, without its newline.

    On a terminal (in the main thread, not on Windows) a Ctrl-C raises ``KeyboardInterrupt``
    whichever thread receives the signal; elsewhere this is ``input(prompt)``.

    Args:
        prompt: shown before the line, without a newline.
        stdin: the terminal read (default ``sys.stdin``); when it is not a terminal,
            ``input(prompt)`` reads ``sys.stdin`` as usual.
        out: where the prompt goes (default ``sys.stdout``).

    Raises:
        EOFError: at the end of input (Ctrl-D on an empty line).
        KeyboardInterrupt: on Ctrl-C.
    """
    stdin = stdin or sys.stdin
    out = out or sys.stdout
    if (
        sys.platform == "win32"  # select() takes sockets only there
        or threading.current_thread() is not threading.main_thread()
        or not _is_tty(stdin)
    ):
        return input(prompt)
    fd = stdin.fileno()
    buffer = _pending.setdefault(fd, bytearray())
    out.write(prompt)
    out.flush()
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    previous = signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
    try:
        while b"\n" not in buffer:
            ready, _, _ = select.select([fd, wake_read], [], [])
            if wake_read in ready:
                # A signal arrived in another thread: the main thread runs its handler at
                # the next instruction (Ctrl-C: KeyboardInterrupt); anything else, go on.
                os.read(wake_read, 512)
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                if not buffer:
                    raise EOFError
                break
            buffer += chunk
        line, _, rest = bytes(buffer).partition(b"\n")
        buffer[:] = rest
        return line.decode(stdin.encoding or "utf-8", errors="replace").rstrip("\r")
    finally:
        signal.set_wakeup_fd(previous)
        os.close(wake_read)
        os.close(wake_write)


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):  # a closed or replaced stream
        return False
