"""``sweetiechat chat``: talk to the supporter agent in the terminal.

Replies stream as they are generated; every message is read by the crisis detector and the
safe-reply policy applies (:mod:`sweetiechat.chat`); the transcript is saved as a dialogue on
``/quit``, Ctrl-C and end of input.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sweetiechat.cli._common import console as default_console
from sweetiechat.cli.line_input import read_line
from sweetiechat.errors import UserError

__all__ = ["HELP", "register", "run_terminal"]

HELP = """Commands:
  /strategy     the counselor's probabilities for the last reply
  /save [FILE]  save the transcript now (default: the --out file)
  /help         this help
  /quit         save and leave (also Ctrl-C, or Ctrl-D at the prompt)
Anything else is sent to the agent."""

PROMPT = "you> "


def strategy_table(session: object) -> Table | str:
    """The counselor's view of the last reply, as a rich table (or a sentence why not)."""
    from sweetiechat.chat import ChatSession
    from sweetiechat.taxonomy import Strategy

    assert isinstance(session, ChatSession)
    if session.counselor is None:
        return "No counselor: start the chat with --counselor DIR, a trained counselor folder."
    if session.last_strategy is None:
        return "No reply yet: the counselor picks a strategy for each reply."
    probabilities = session.strategy_probabilities
    if not probabilities:
        return f"The counselor chose {session.last_strategy.value} (it gives no probabilities)."
    table = Table(title="Counselor: P(strategy | chat so far)", title_justify="left")
    table.add_column("strategy")
    table.add_column("probability", justify="right")
    table.add_column("")
    for strategy in sorted(Strategy, key=lambda s: -probabilities.get(s, 0.0)):
        p = probabilities.get(strategy, 0.0)
        bar = "#" * round(20 * p)
        chosen = strategy is session.last_strategy
        name = f"[bold]{strategy.value}[/] <" if chosen else strategy.value
        table.add_row(name, f"{p:.3f}", bar)
    return table


def run_terminal(
    session: object,
    out: Path,
    *,
    console: Console = default_console,
    read: Callable[[str], str] = read_line,
) -> int:
    """The chat loop: read a line, stream the reply, handle commands; save on the way out.

    Returns:
        The number of messages the person sent.
    """
    from sweetiechat.chat import ChatSession

    assert isinstance(session, ChatSession)
    loop = asyncio.new_event_loop()
    sent = 0

    async def reply(text: str) -> None:
        started = False
        async for piece in session.send(text):
            if not started:
                tag = f" [{session.last_strategy.value}]" if session.last_strategy else ""
                console.print(f"[bold cyan]agent{escape(tag)}>[/] ", end="", highlight=False)
                started = True
            console.print(escape(piece), end="", highlight=False, soft_wrap=True)
        console.print()
        risk = session.last_risk
        if risk is not None and risk.risk:
            console.print(
                f"[dim](safety: this message signals {risk.category}; the reply was checked "
                "before it was shown)[/]",
                highlight=False,
            )
        if session.last_withdrawn:
            console.print("[dim](safety: the reply failed the check and was replaced)[/]")

    def save(path: Path) -> None:
        if not session.turns:
            console.print("[dim]nothing said, nothing saved[/]", highlight=False)
            return
        session.save(path)
        console.print(
            f"[green]saved[/] {escape(str(path))} ({len(session.turns)} turns)", highlight=False
        )

    try:
        while True:
            try:
                line = read(PROMPT)
            except EOFError:
                console.print()
                break
            text = line.strip()
            if not text:
                continue
            if text.startswith("/"):
                command, _, argument = text.partition(" ")
                command = command.lower()
                if command in ("/quit", "/exit", "/bye", "/end"):
                    break
                if command == "/help":
                    console.print(escape(HELP), highlight=False)
                elif command == "/strategy":
                    console.print(strategy_table(session), highlight=False)
                elif command == "/save":
                    save(Path(argument.strip()) if argument.strip() else out)
                else:
                    console.print(f"unknown command {escape(command)}; /help lists them")
                continue
            loop.run_until_complete(reply(text))
            sent += 1
    except KeyboardInterrupt:
        console.print("\n[dim]interrupted[/]", highlight=False)
    finally:
        save(out)
        _close(loop)
    return sent


def _close(loop: asyncio.AbstractEventLoop) -> None:
    """Stop what still runs on ``loop`` (the local model's decode loop) and close it."""
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


def register(app: typer.Typer) -> None:
    """Add ``sweetiechat chat`` to ``app``."""

    @app.command("chat")
    def chat(
        model: str = typer.Option(
            "embedded", "--model", "-m", help="'embedded' (SmolLM2) or a local model folder."
        ),
        adapter: Path | None = typer.Option(
            None, "--adapter", help="A fine-tuned agent's adapter folder (sweetiechat agent train)."
        ),
        counselor: Path | None = typer.Option(
            None,
            "--counselor",
            help="A trained counselor folder (sweetiechat counselor train): it picks each "
            "reply's strategy; /strategy shows its probabilities.",
        ),
        out: Path | None = typer.Option(
            None, "--out", "-o", help="Where the transcript goes (default: ./<chat id>.jsonl)."
        ),
        max_tokens: int = typer.Option(96, "--max-tokens", help="Longest reply, in tokens."),
        temperature: float = typer.Option(0.7, "--temperature", help="Sampling temperature."),
        locale: str | None = typer.Option(
            None, "--locale", help="Crisis resources of this locale, e.g. en-GB (default en-US)."
        ),
        resources: Path | None = typer.Option(
            None, "--resources", help="A crisis resources JSON file (the shipped file's shape)."
        ),
        problem_type: str = typer.Option(
            "Chronic Stress", "--problem-type", help="The transcript's problem-type label."
        ),
    ) -> None:
        """Talk to the supporter agent; replies stream as they are written.

        Every message passes the crisis detector: a message that signals risk gets a checked
        reply pointing to the locale's crisis resources. The transcript is saved as a
        sweetiechat dialogue (JSONL) on /quit, Ctrl-C and Ctrl-D. Example:

            sweetiechat chat --counselor runs/counselor --locale en-GB --out me.jsonl
        """
        from sweetiechat.chat import open_chat
        from sweetiechat.taxonomy import UnknownLabelError

        if max_tokens < 1:
            raise UserError("--max-tokens must be at least 1")
        try:
            session = open_chat(
                model,
                adapter=adapter,
                counselor=counselor,
                max_new_tokens=max_tokens,
                temperature=temperature,
                locale=locale,
                resources_file=resources,
                problem_type=problem_type,
            )
        except UnknownLabelError as err:
            raise UserError(f"--problem-type: {err}") from None
        target = out or Path(f"{session.dialogue_id}.jsonl")
        if target.is_dir():
            raise UserError(f"--out {target} is a folder; give a file name")
        what = f"model {session.name}"
        if session.agent is not None:
            what += " (fine-tuned" + (", tags strategies)" if session.agent.with_strategy else ")")
        if session.counselor is not None:
            from sweetiechat.agents.slots import slot_name

            what += f", counselor {slot_name(session.counselor)}"
        default_console.print(f"[bold]sweetiechat chat[/]: {escape(what)}", highlight=False)
        default_console.print("[dim]loading the model and the crisis detector[/]")
        session.warm_up()
        default_console.print(
            f"Talk as you would to a supporter. /help for commands; the transcript goes to "
            f"{escape(str(target))}.",
            highlight=False,
        )
        run_terminal(session, target)
