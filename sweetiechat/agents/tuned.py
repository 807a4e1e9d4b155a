"""Fine-tuned agents: the chat format they are trained and prompted with, and their folders.

``sweetiechat agent train`` turns a dialogue into chat messages with :func:`agent_messages`:
a system prompt, then the seeker's turns as ``user`` and the supporter's as ``assistant``
(role-reversed for a seeker agent). With ``with_strategy`` every supporter turn starts with
its strategy tag, e.g. ``[Question] What happened?``, so the agent states its strategy, or
follows one a counselor gives at inference (:func:`agent_prompt` with ``strategy=``).

Every adapter folder holds ``sweetiechat_agent.json`` (:class:`AgentInfo`): the base model
and its fingerprint, the role, the system prompt and the context length, so that inference
uses exactly the training format.

>>> from sweetiechat.types import Dialogue, Turn
>>> d = Dialogue(id="d", problem_type="job crisis", turns=[
...     Turn(role="seeker", text="I lost my job."),
...     Turn(role="supporter", text="What happened?", strategy="Question")])
>>> [m["role"] for m in agent_messages(d)]
['system', 'user', 'assistant']
>>> agent_messages(d, with_strategy=True)[-1]["content"]
'[Question] What happened?'
>>> parse_reply("[Question] What happened?")
(<Strategy.QUESTION: 'Question'>, 'What happened?')
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sweetiechat.errors import UserError, first_problem
from sweetiechat.taxonomy import Strategy, parse_strategy
from sweetiechat.types import Dialogue

__all__ = [
    "AGENT_FILE",
    "AGENT_SYSTEM_PROMPT",
    "SEEKER_SYSTEM_PROMPT",
    "AgentInfo",
    "AgentRole",
    "agent_messages",
    "agent_prompt",
    "check_base",
    "format_target",
    "parse_reply",
    "read_agent_info",
    "system_for",
]

#: The descriptor file in every fine-tuned agent's adapter folder.
AGENT_FILE = "sweetiechat_agent.json"

AgentRole = Literal["supporter", "seeker"]

#: The supporter agent's system prompt (training and inference).
AGENT_SYSTEM_PROMPT = (
    "You are a warm, patient supporter in an emotional-support conversation. Listen, ask "
    "about the person's situation, reflect their feelings, and offer comfort and, when it "
    "helps, practical suggestions. Reply in one or two short sentences."
)

#: The seeker agent's system prompt; ``{problem_type}`` and ``{scenario}`` are filled in
#: from the dialogue.
SEEKER_SYSTEM_PROMPT = (
    "You are a person seeking emotional support, talking to a supporter. Your problem: "
    "{problem_type}. Your situation: {scenario} Share your feelings and answer the "
    "supporter's questions in one or two short sentences, as yourself."
)

_TAG = re.compile(r"^\s*\[([^\]\n]{1,60})\]\s*")


def system_for(dialogue: Dialogue, system: str) -> str:
    """``system`` with ``{problem_type}`` and ``{scenario}`` filled in from ``dialogue``."""
    scenario = (dialogue.scenario or "").strip() or "(not given)"
    return system.replace("{problem_type}", dialogue.problem_type.value).replace(
        "{scenario}", scenario
    )


def format_target(text: str, strategy: Strategy | None, with_strategy: bool) -> str:
    """A supporter turn as the agent writes it: ``[Strategy] text`` or just ``text``.

    >>> format_target("Hi.", Strategy.OTHERS, True)
    '[Others] Hi.'
    """
    if with_strategy and strategy is not None:
        return f"[{strategy.value}] {text}"
    return text


def agent_messages(
    dialogue: Dialogue,
    upto: int | None = None,
    *,
    with_strategy: bool = False,
    system: str | None = None,
    role: AgentRole = "supporter",
) -> list[dict[str, str]]:
    """The chat messages of ``dialogue.turns[:upto]``, as the agent is trained on them.

    Consecutive turns of one speaker (common in ESConv) stay separate messages, so every
    supporter utterance is its own target.

    Args:
        dialogue: the dialogue.
        upto: only the turns before this index (``None``: all).
        with_strategy: prefix supporter turns with their strategy tag.
        system: the system prompt (default: :data:`AGENT_SYSTEM_PROMPT` for a supporter,
            :data:`SEEKER_SYSTEM_PROMPT` for a seeker); ``{problem_type}`` and ``{scenario}``
            are filled in.
        role: whose turns are ``assistant``: ``"supporter"`` (default) or ``"seeker"``
            (role-reversed: the supporter's turns become ``user``).

    Returns:
        ``[{"role": "system", "content": ...}, {"role": "user", ...}, ...]``.
    """
    if system is None:
        system = AGENT_SYSTEM_PROMPT if role == "supporter" else SEEKER_SYSTEM_PROMPT
    messages = [{"role": "system", "content": system_for(dialogue, system)}]
    for turn in dialogue.turns[:upto]:
        mine = turn.role == role
        text = turn.text.strip()
        if turn.role == "supporter":
            text = format_target(text, turn.strategy, with_strategy)
        messages.append({"role": "assistant" if mine else "user", "content": text})
    return messages


def agent_prompt(
    tokenizer: Any,
    dialogue: Dialogue,
    upto: int | None = None,
    *,
    with_strategy: bool = False,
    strategy: Strategy | None = None,
    system: str | None = None,
    role: AgentRole = "supporter",
) -> str:
    """The chat-templated prompt for the agent's next turn after ``dialogue.turns[:upto]``.

    Ends with the assistant's generation prompt, plus ``"[<strategy>] "`` when ``strategy``
    is given (a counselor's pick, for an agent trained ``with_strategy``).
    """
    messages = agent_messages(dialogue, upto, with_strategy=with_strategy, system=system, role=role)
    text = str(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False))
    if strategy is not None and role == "supporter":
        text += f"[{strategy.value}] "
    return text


def parse_reply(text: str) -> tuple[Strategy | None, str]:
    """Split a leading ``[Strategy]`` tag off a generated reply.

    A tag that names no strategy is left in the text.

    >>> parse_reply("No tag here.")
    (None, 'No tag here.')
    >>> parse_reply("[Reflection] You feel alone.")[0]
    <Strategy.REFLECTION: 'Reflection of feelings'>
    """
    match = _TAG.match(text)
    if match:
        try:
            return parse_strategy(match.group(1)), text[match.end() :].strip()
        except ValueError:
            pass
    return None, text.strip()


class AgentInfo(BaseModel):
    """The contents of ``sweetiechat_agent.json`` in a fine-tuned agent's adapter folder."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["sweetiechat-agent"] = "sweetiechat-agent"
    """Marks the file as a sweetiechat agent descriptor."""
    version: int = 1
    """Version of this layout."""
    role: AgentRole = "supporter"
    """Which side the agent speaks: ``"supporter"`` or ``"seeker"`` (role-reversed)."""
    base_model: str
    """The base model as given at training (``"embedded"`` or a folder)."""
    base_fingerprint: dict[str, Any] = Field(default_factory=dict)
    """The base's architecture (model type, vocabulary, hidden size, layers)."""
    with_strategy: bool = False
    """Supporter replies start with a ``[Strategy]`` tag."""
    system_prompt: str = AGENT_SYSTEM_PROMPT
    """The system prompt trained with (``{problem_type}``/``{scenario}`` filled per dialogue)."""
    max_length: int = 1024
    """Tokens per training example; longer histories were cut from the left."""
    seed: int | None = None
    """The training seed."""
    trained_steps: int | None = None
    """Optimizer steps of the saved adapter, once training has finished."""


def read_agent_info(adapter_dir: str | Path) -> AgentInfo:
    """Read an adapter folder's ``sweetiechat_agent.json``.

    Raises:
        UserError: no such folder, no descriptor, or a bad one; the message names the folder.
    """
    folder = Path(adapter_dir)
    path = folder / AGENT_FILE
    if not folder.is_dir():
        raise UserError(f"{folder}: no such adapter folder")
    if not path.is_file():
        raise UserError(
            f"{folder}: not a fine-tuned agent (no {AGENT_FILE}); train one with "
            "sweetiechat agent train"
        )
    try:
        return AgentInfo.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except json.JSONDecodeError as err:
        raise UserError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
    except ValidationError as err:
        field, message = first_problem(err, AGENT_FILE)
        raise UserError(f"{path}: field {field!r}: {message}") from None


def check_base(info: AgentInfo, base_model: str, folder: str | Path | None = None) -> None:
    """Fail unless ``base_model`` has the architecture the adapter was trained on.

    Raises:
        UserError: the base model is missing, or differs from the one trained on.
    """
    from sweetiechat.agents.trained import base_fingerprint

    found = base_fingerprint(base_model)
    if info.base_fingerprint and found != info.base_fingerprint:
        trained = ", ".join(f"{k}={v}" for k, v in info.base_fingerprint.items())
        given = ", ".join(f"{k}={v}" for k, v in found.items())
        where = f"{folder}: the adapter" if folder else "the adapter"
        raise UserError(
            f"{where} was trained on base model {info.base_model} ({trained}), not on "
            f"{base_model} ({given}); pass the base model it was trained on"
        )
