"""Seekers that are not models: a person (:class:`HumanSeeker`) and a script
(:class:`ScriptedSeeker`). Both fit the :class:`~sweetiechat.agents.slots.Seeker` slot, so a
:class:`~sweetiechat.conversation.Conversation` plays them like any other seeker.

>>> import asyncio
>>> from sweetiechat.types import Dialogue
>>> seeker = HumanSeeker(["I can't sleep.", "/end thanks, that helps"])
>>> d = Dialogue(id="x", problem_type="Sleep Problems")
>>> asyncio.run(seeker.arespond(d))
SeekerReply(text="I can't sleep.", closes=False)
>>> asyncio.run(seeker.arespond(d))
SeekerReply(text='thanks, that helps', closes=True)
"""

from __future__ import annotations

import asyncio
import builtins
import inspect
import select
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence

from sweetiechat.agents.seeker import SeekerReply
from sweetiechat.types import Dialogue, Turn

__all__ = ["CLOSE_COMMANDS", "GOODBYE", "HumanSeeker", "ScriptedSeeker"]

#: A line starting with one of these closes the conversation (the rest of the line is said).
CLOSE_COMMANDS = ("/end", "/quit", "/bye")
#: What a person who closes (or hits end of input) without words is recorded as saying.
GOODBYE = "Goodbye."

LineSource = (
    Callable[[str], str]
    | Callable[[str], Awaitable[str]]
    | asyncio.Queue[str | None]
    | Iterable[str]
)


class HumanSeeker:
    """A person in the seeker's place. Each turn reads one line from ``read``.

    Args:
        read: where lines come from: a function taking the prompt (``input``, the default,
            runs in a worker thread so the event loop keeps going; at a terminal it waits
            for a line in short polls, so a program stopped meanwhile, by Ctrl-C or a
            timeout, exits at once instead of waiting for Enter), an async function, an
            :class:`asyncio.Queue` (a web page puts each message; ``None`` means the person
            left), or an iterable of lines.
        show: called with each supporter turn before reading the answer to it (a terminal
            prints it; a web page sends it).
        prompt: passed to a reading function.
        name: the label in ``meta.models``.

    A line starting with ``/end``, ``/quit`` or ``/bye`` closes the conversation, and end
    of input (EOF, a ``None`` from the queue, an exhausted iterable) closes it too; a close
    without words is recorded as :data:`GOODBYE`. Empty lines are skipped.
    """

    def __init__(
        self,
        read: LineSource = input,
        *,
        show: Callable[[Turn], object] | None = None,
        prompt: str = "you> ",
        name: str = "human",
    ) -> None:
        self._read = read
        self._lines: Iterator[str] | None = None
        if not callable(read) and not isinstance(read, asyncio.Queue):
            self._lines = iter(read)
        self.show = show
        self.prompt = prompt
        self.name = name

    async def _next_line(self) -> str | None:
        """The next line, or ``None`` at the end of input."""
        if self._lines is not None:
            return next(self._lines, None)
        if isinstance(self._read, asyncio.Queue):
            return await self._read.get()
        read = self._read
        assert callable(read)
        try:
            if inspect.iscoroutinefunction(read):
                return await read(self.prompt)
            line: object
            if read is builtins.input and _stdin_is_terminal():
                line = await _terminal_input(self.prompt)
            else:
                line = await asyncio.to_thread(read, self.prompt)
            if inspect.isawaitable(line):
                line = await line
            return str(line)
        except EOFError:
            return None

    async def arespond(self, dialogue: Dialogue) -> SeekerReply:
        """Show the supporter's last turn, then read the person's answer."""
        if self.show is not None and dialogue.turns and dialogue.turns[-1].role == "supporter":
            shown = self.show(dialogue.turns[-1])
            if inspect.isawaitable(shown):
                await shown
        while True:
            line = await self._next_line()
            if line is None:
                return SeekerReply(GOODBYE, closes=True)
            text = line.strip()
            if text:
                break
        for command in CLOSE_COMMANDS:
            if text.lower() == command or text.lower().startswith(command + " "):
                return SeekerReply(text[len(command) :].strip() or GOODBYE, closes=True)
        return SeekerReply(text, closes=False)


def _stdin_is_terminal() -> bool:
    if sys.platform == "win32":  # select() takes sockets only there
        return False
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError, OSError):  # replaced or closed (a notebook)
        return False


async def _terminal_input(prompt: str) -> str:
    """``input(prompt)`` in a worker thread that gives up when the awaiting task is cancelled.

    A worker blocked in ``input()`` cannot be stopped, and the interpreter joins worker
    threads at exit: a program stopped while a person had not answered would hang until
    Enter. This worker waits for the terminal in polls of 0.2 s and reads only when a line
    is there (a terminal hands over whole lines), so it ends soon after a cancellation.
    """
    stop = threading.Event()

    def read() -> str | None:
        sys.stdout.write(prompt)
        sys.stdout.flush()
        while not stop.is_set():
            if select.select([sys.stdin], [], [], 0.2)[0]:
                return input()
        return None

    try:
        line = await asyncio.to_thread(read)
    except asyncio.CancelledError:
        stop.set()
        raise
    if line is None:  # stopped without a cancellation reaching this task
        raise asyncio.CancelledError
    return line


class ScriptedSeeker:
    """A seeker that says the given lines in order, for tests and demos; it closes with the
    last one (``close_last``) and closes with :data:`GOODBYE` when asked past the end.

    >>> import asyncio
    >>> from sweetiechat.types import Dialogue
    >>> seeker = ScriptedSeeker(["I lost my job.", "Thanks, bye."])
    >>> d = Dialogue(id="x", problem_type="Job Crisis")
    >>> [asyncio.run(seeker.arespond(d)).closes for _ in range(2)]
    [False, True]
    """

    def __init__(
        self, lines: Sequence[str], *, close_last: bool = True, name: str = "scripted"
    ) -> None:
        if not lines or any(not str(line).strip() for line in lines):
            raise ValueError("a ScriptedSeeker needs at least one line, and no empty lines")
        self.lines = [str(line).strip() for line in lines]
        self.close_last = close_last
        self.name = name
        self._said = 0

    async def arespond(self, dialogue: Dialogue) -> SeekerReply:
        """The next scripted line."""
        if self._said >= len(self.lines):
            return SeekerReply(GOODBYE, closes=True)
        text = self.lines[self._said]
        self._said += 1
        last = self._said == len(self.lines)
        return SeekerReply(text, closes=last and self.close_last)
