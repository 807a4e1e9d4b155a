"""Roles as slots: anything with the slot's method takes the slot; episodes are data."""

from __future__ import annotations

import asyncio
import sys

import pytest

from helpers import fake
from sweetiechat import Conversation, Episode
from sweetiechat.agents import (
    FreeSupporterAgent,
    HumanSeeker,
    PromptedCounselor,
    ScriptedSeeker,
    SeekerAgent,
    StrategyChoice,
    SupporterAgent,
)
from sweetiechat.notes import note
from sweetiechat.taxonomy import Strategy
from sweetiechat.types import Turn


class EchoSupporter:
    """A supporter that is not an Agent: it repeats the strategy it was given."""

    name = "echo"

    async def arespond(self, dialogue, strategy, example=None):
        return Turn(role="supporter", text=f"({strategy.value})", strategy=strategy)


class FixedCounselor:
    name = "fixed"

    async def aselect(self, dialogue):
        return StrategyChoice(Strategy.REFLECTION)


class NotingSupporter(EchoSupporter):
    async def arespond(self, dialogue, strategy, example=None):
        note("enforcement", {"turn": len(dialogue.turns)})
        return await super().arespond(dialogue, strategy, example)


class PickingSupporter:
    """A free supporter that is not an Agent."""

    async def arespond(self, dialogue, example=None):
        return Turn(role="supporter", text="Hmm.", strategy=None)


def test_a_scripted_seeker_and_plain_objects_fill_the_slots():
    conv = Conversation(
        seeker=ScriptedSeeker(["I lost my job.", "It hurts.", "Thanks, bye."]),
        supporter=EchoSupporter(),
        counselor=FixedCounselor(),
        min_seeker_turns=1,
    )
    d = conv.run(Episode(problem_type="job crisis", scenario="Laid off.", dialogue_id="e1"))
    assert d.id == "e1" and d.problem_type.value == "Job Crisis" and d.scenario == "Laid off."
    assert [t.text for t in d.turns] == [
        "I lost my job.",
        "(Reflection of feelings)",
        "It hurts.",
        "(Reflection of feelings)",
        "Thanks, bye.",
    ]
    assert d.meta.models == {"seeker": "scripted", "supporter": "echo", "counselor": "fixed"}


def test_one_conversation_plays_many_episodes():
    conv = Conversation(
        seeker=SeekerAgent(fake("Bye. [END]")),
        supporter=SupporterAgent(fake("I hear you.")),
        counselor=PromptedCounselor(fake("Question")),
        min_seeker_turns=1,
    )
    episodes = [Episode(problem_type=p, dialogue_id=p) for p in ("Burnout", "Grief and Loss")]

    async def both():
        return await asyncio.gather(*(conv.arun(e) for e in episodes))

    a, b = asyncio.run(both())
    assert (a.id, a.problem_type.value, b.problem_type.value) == ("Burnout",) * 2 + (
        "Grief and Loss",
    )
    with pytest.raises(ValueError, match="no episode"):
        conv.run()


def test_history_is_continued_from_where_it_stops():
    history = [
        Turn(role="seeker", text="My dog died."),
        Turn(role="supporter", text="I'm so sorry.", strategy="Reflection of feelings"),
        Turn(role="seeker", text="I miss him."),
    ]
    conv = Conversation(
        seeker=ScriptedSeeker(["Thank you, bye."]),
        supporter=EchoSupporter(),
        counselor=FixedCounselor(),
        min_seeker_turns=1,
    )
    d = conv.run(Episode(problem_type="Grief and Loss", history=history))
    assert d.turns[:3] == history
    assert [t.role for t in d.turns[3:]] == ["supporter", "seeker"]
    assert d.turns[-1].text == "Thank you, bye."
    # the limit counts the history's seeker turns: with 2 already said, one more ends it
    conv.max_seeker_turns, conv.min_seeker_turns = 2, 1
    d = conv.run(Episode(problem_type="Grief and Loss", history=history))
    assert len(d.turns) == 3


def test_a_human_seeker_on_a_queue_sees_each_reply_and_closes():
    shown: list[str] = []
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    async def person():
        await queue.put("I can't focus at work.")
        await queue.put("")  # skipped
        await queue.put("/end thanks")

    async def play():
        seeker = HumanSeeker(queue, show=lambda turn: shown.append(turn.text))
        conv = Conversation(
            seeker=seeker,
            supporter=SupporterAgent(fake("What happened at work?")),
            counselor=PromptedCounselor(fake("Question")),
            min_seeker_turns=1,
        )
        await person()
        return await conv.arun(Episode(problem_type="workplace stress"))

    d = asyncio.run(play())
    assert [t.text for t in d.turns] == [
        "I can't focus at work.",
        "What happened at work?",
        "thanks",
    ]
    assert shown == ["What happened at work?"]
    assert d.meta.models["seeker"] == "human"


def test_a_human_seeker_reading_a_function_closes_at_end_of_input():
    lines = iter(["I feel lonely."])

    def read(prompt):
        try:
            return next(lines)
        except StopIteration:
            raise EOFError from None

    d = Conversation(
        seeker=HumanSeeker(read),
        supporter=SupporterAgent(fake("Tell me more.")),
        counselor=PromptedCounselor(fake("Question")),
        problem_type="Problems with Friends",
        min_seeker_turns=1,
    ).run()
    assert [t.text for t in d.turns] == ["I feel lonely.", "Tell me more.", "Goodbye."]


# A program whose person is asked at a terminal (the default ``input``): it prints what
# the person typed, or gives up after a timeout (as Ctrl-C would stop it) and exits.
TERMINAL_SEEKER = """
import asyncio
from sweetiechat.agents import HumanSeeker
from sweetiechat.types import Dialogue

async def main():
    seeker = HumanSeeker()
    dialogue = Dialogue(id="x", problem_type="Sleep Problems")
    try:
        reply = await asyncio.wait_for(seeker.arespond(dialogue), 1.5)
        print("said:", reply.text, reply.closes, flush=True)
    except TimeoutError:
        print("stopped", flush=True)

asyncio.run(main())
print("exited", flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
@pytest.mark.parametrize("typed", ["I can't sleep.\n", None])
def test_a_human_seeker_at_a_terminal_reads_a_line_or_lets_a_stopped_program_exit(typed):
    """A worker thread blocked in ``input()`` would keep the stopped program alive until
    Enter; the seeker reads the terminal in polls instead."""
    import os
    import pty
    import subprocess

    master, terminal = pty.openpty()
    try:
        program = subprocess.Popen(
            [sys.executable, "-c", TERMINAL_SEEKER],
            stdin=terminal,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        if typed is not None:
            os.write(master, typed.encode())
        try:
            out, err = program.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            program.kill()
            pytest.fail("the program did not exit while the person had not answered")
    finally:
        os.close(master)
        os.close(terminal)
    assert program.returncode == 0, err
    said = "said: I can't sleep. False" if typed else "stopped"
    assert out.splitlines() == ["you> " + said, "exited"]


def test_a_free_supporter_that_is_not_an_agent_and_notes_are_kept():
    d = Conversation(
        seeker=ScriptedSeeker(["Hi.", "Bye."]),
        supporter=PickingSupporter(),
        counselor=None,
        problem_type="burnout",
        min_seeker_turns=1,
    ).run()
    assert d.turns[1].strategy is Strategy.OTHERS and d.meta.counselor_fallbacks == 1
    d = Conversation(
        seeker=ScriptedSeeker(["Hi.", "Bye."]),
        supporter=NotingSupporter(),
        counselor=FixedCounselor(),
        problem_type="burnout",
        min_seeker_turns=1,
    ).run()
    assert d.meta.model_dump()["enforcement"] == [{"turn": 1}]


def test_objects_that_cannot_take_a_slot_get_a_clear_error():
    good = {"supporter": EchoSupporter(), "counselor": FixedCounselor(), "problem_type": "burnout"}
    with pytest.raises(TypeError, match=r"the seeker is str 'hi', which has no async method"):
        Conversation(seeker="hi", **good)

    class SyncSeeker:
        def arespond(self, dialogue):
            return None

    with pytest.raises(TypeError, match="must be an async method"):
        Conversation(seeker=SyncSeeker(), **good)
    with pytest.raises(TypeError, match=r"the counselor is .*aselect\(dialogue\)"):
        Conversation(seeker=ScriptedSeeker(["Hi."]), supporter=EchoSupporter(), counselor=1)

    class TwoArgs:
        async def arespond(self, dialogue, strategy, example, extra):
            return None

    with pytest.raises(TypeError, match=r"cannot be called as arespond\(dialogue, strategy"):
        Conversation(
            seeker=ScriptedSeeker(["Hi."]), supporter=TwoArgs(), counselor=FixedCounselor()
        )
    with pytest.raises(ValueError, match="FreeSupporterAgent"):
        Conversation(seeker=ScriptedSeeker(["Hi."]), supporter=EchoSupporter(), counselor=None)
    # the agents keep fitting their slots
    Conversation(
        seeker=ScriptedSeeker(["Hi."]),
        supporter=FreeSupporterAgent(fake("[Question] Hi?")),
        counselor=None,
    )


def test_a_seeker_or_supporter_returning_the_wrong_thing_says_what_to_return():
    class StrSeeker:
        async def arespond(self, dialogue):
            return "hello"

    class StrSupporter:
        async def arespond(self, dialogue, strategy, example=None):
            return "hi"

    common = {"counselor": FixedCounselor(), "problem_type": "burnout"}
    with pytest.raises(
        TypeError, match=r"returned str 'hello'; arespond\(\) must return a SeekerReply"
    ):
        Conversation(seeker=StrSeeker(), supporter=EchoSupporter(), **common).run()
    with pytest.raises(TypeError, match=r"returned str 'hi'; arespond\(\) must return Turn"):
        Conversation(seeker=ScriptedSeeker(["Hi."]), supporter=StrSupporter(), **common).run()


def test_scripted_seeker_refuses_empty_lines():
    with pytest.raises(ValueError, match="no empty lines"):
        ScriptedSeeker(["Hi.", " "])


def test_the_docs_example_runs_and_prints_what_the_docs_show(capsys):
    from pathlib import Path

    doc = (Path(__file__).parents[1] / "docs" / "evaluation.md").read_text(encoding="utf-8")
    section = doc.split("## Roles as slots, and the terminal chat", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    shown = section.split("```text\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "docs/evaluation.md", "exec"), {})
    assert capsys.readouterr().out.splitlines() == [line.rstrip() for line in shown.splitlines()]
