"""The agent's training examples: dialogues read, turned into chat messages, tokenised with a
loss mask on the agent's own turns, and cut from the left to fit the context.

A dialogue that fits ``max_length`` tokens is one example, every agent turn in it a target.
A longer one becomes several: each ends at an agent turn and keeps as much history before
its first new target as fits; the history that did not fit is cut from the left, and counted
(:class:`EncodeStats`). The loss falls on the agent's words and its end-of-turn token only,
never on the system prompt, the other side's turns, or the chat template's role headers.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from sweetiechat.agents.tuned import AgentRole, agent_messages
from sweetiechat.errors import UserError
from sweetiechat.io import read_dialogues
from sweetiechat.types import Dialogue

__all__ = [
    "EncodeStats",
    "encode_dialogue",
    "encode_dialogues",
    "load_dialogues",
    "split_valid",
    "with_labels",
]


def load_dialogues(
    paths: Sequence[str | Path], *, limit: int | None, role: AgentRole
) -> list[Dialogue]:
    """The dialogues of ``paths`` (the first ``limit`` of each file), checked for targets.

    Raises:
        UserError: a file is missing or bad, holds no dialogues, or no dialogue has a turn of
            ``role`` to learn from.
    """
    dialogues: list[Dialogue] = []
    for path in paths:
        found = list(islice(read_dialogues(path), limit))
        if not found:
            raise UserError(f"{path}: no dialogues in this file; give a file with dialogues")
        dialogues.extend(found)
    if not any(t.role == role for d in dialogues for t in d.turns):
        names = ", ".join(str(p) for p in paths)
        raise UserError(
            f"{names}: no {role} turns to train on; give dialogues with {role} utterances"
        )
    return dialogues


def split_valid(
    dialogues: list[Dialogue], fraction: float, seed: int
) -> tuple[list[Dialogue], list[Dialogue]]:
    """Hold out ``fraction`` of the dialogues (at least one when there are two or more).

    >>> from sweetiechat.types import Dialogue
    >>> ds = [Dialogue(id=str(i), problem_type="job crisis") for i in range(20)]
    >>> [len(x) for x in split_valid(ds, 0.1, 0)]
    [18, 2]
    """
    if fraction <= 0 or len(dialogues) < 2:
        return dialogues, []
    n_valid = max(1, round(len(dialogues) * fraction))
    order = list(range(len(dialogues)))
    random.Random(seed).shuffle(order)
    held = set(order[:n_valid])
    return (
        [d for i, d in enumerate(dialogues) if i not in held],
        [d for i, d in enumerate(dialogues) if i in held],
    )


@dataclass
class EncodeStats:
    """What encoding did to the dialogues."""

    dialogues: int = 0
    """Dialogues encoded."""
    examples: int = 0
    """Training examples made (a long dialogue makes several)."""
    targets: int = 0
    """Agent turns in the loss."""
    cut_examples: int = 0
    """Examples whose history was cut from the left to fit ``max_length``."""
    cut_turns: int = 0
    """Earlier turns left out of those examples' history, summed."""
    truncated_targets: int = 0
    """Agent turns longer than the window on their own, cut on the right."""
    tokens: int = 0
    """Tokens in all examples."""
    loss_tokens: int = 0
    """Tokens that carry loss."""
    skipped: list[str] = field(default_factory=list)
    """Dialogues without an agent turn (nothing to learn)."""

    def to_dict(self) -> dict[str, Any]:
        """The counts, for ``metrics.json`` (skipped ids counted, not listed)."""
        d = {k: v for k, v in self.__dict__.items() if k != "skipped"}
        d["skipped_dialogues"] = len(self.skipped)
        return d


def _segments(
    tokenizer: Any, messages: list[dict[str, str]]
) -> tuple[list[int], list[tuple[list[int], list[int]]]]:
    """The system prompt's ids, and (header ids, body ids) per later message.

    Each message's text is the difference between the chat template of the messages up to it
    and up to the one before, so any template whose renderings extend each other works. An
    assistant message's header is its generation prompt (``<|im_start|>assistant\\n``); its
    body (the words and the end-of-turn tokens) is what carries loss.
    """

    def render(msgs: list[dict[str, str]], gen: bool = False) -> str:
        return str(tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen))

    def ids(text: str) -> list[int]:
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])

    previous = render(messages[:1])
    system = ids(previous)
    out: list[tuple[list[int], list[int]]] = []
    for k in range(1, len(messages)):
        full = render(messages[: k + 1])
        if not full.startswith(previous):
            raise UserError(
                "the base model's chat template does not render a conversation as a prefix of "
                "its continuation; use a model with a ChatML-like template"
            )
        piece = full[len(previous) :]
        header = ""
        if messages[k]["role"] == "assistant":
            prompt = render(messages[:k], gen=True)[len(previous) :]
            header = prompt if piece.startswith(prompt) else ""
        out.append((ids(header), ids(piece[len(header) :])))
        previous = full
    return system, out


def encode_dialogue(
    tokenizer: Any,
    dialogue: Dialogue,
    *,
    max_length: int,
    role: AgentRole = "supporter",
    with_strategy: bool = False,
    system: str | None = None,
    stats: EncodeStats | None = None,
) -> list[dict[str, list[int]]]:
    """The training examples of one dialogue: ``input_ids`` and ``completion_mask`` (1 on
    the tokens in the loss).

    Args:
        tokenizer: the base model's tokenizer (with a chat template).
        dialogue: the dialogue.
        max_length: tokens per example at most.
        role: the agent's side.
        with_strategy: supporter targets start with their ``[Strategy]`` tag.
        system: the system prompt (default: the role's).
        stats: counts are added here.
    """
    stats = stats if stats is not None else EncodeStats()
    messages = agent_messages(dialogue, with_strategy=with_strategy, system=system, role=role)
    system_ids, segs = _segments(tokenizer, messages)
    is_target = [m["role"] == "assistant" for m in messages[1:]]
    if not any(is_target):
        stats.skipped.append(dialogue.id)
        return []
    stats.dialogues += 1
    lengths = [len(h) + len(b) for h, b in segs]
    room = max_length - len(system_ids)
    if room < 16:
        raise UserError(
            f"max_length {max_length} leaves {max(room, 0)} tokens after the system prompt "
            f"({len(system_ids)} tokens); raise --max-length"
        )
    examples: list[dict[str, list[int]]] = []
    done = -1  # the last message already trained on
    targets = [i for i, t in enumerate(is_target) if t]
    while done < targets[-1]:
        first = next(i for i in targets if i > done)
        end = first  # extend to the furthest target that fits together with ``first``
        for i in targets:
            if i > first and sum(lengths[first : i + 1]) <= room:
                end = i
        start = first
        while start > 0 and sum(lengths[start - 1 : end + 1]) <= room:
            start -= 1
        ids = list(system_ids)
        mask = [0] * len(system_ids)
        for i in range(start, end + 1):
            header, body = segs[i]
            train = is_target[i] and i > done
            ids += header + body
            mask += [0] * len(header) + [1 if train else 0] * len(body)
            stats.targets += int(train)
        if len(ids) > max_length:  # one target alone is longer than the window
            ids, mask = ids[:max_length], mask[:max_length]
            stats.truncated_targets += 1
        if start > 0:
            stats.cut_examples += 1
            stats.cut_turns += start
        stats.examples += 1
        stats.tokens += len(ids)
        stats.loss_tokens += sum(mask)
        if any(mask):
            examples.append({"input_ids": ids, "completion_mask": mask})
        done = end
    return examples


def encode_dialogues(
    tokenizer: Any,
    dialogues: Iterable[Dialogue],
    *,
    max_length: int,
    role: AgentRole = "supporter",
    with_strategy: bool = False,
    system: str | None = None,
) -> tuple[list[dict[str, list[int]]], EncodeStats]:
    """:func:`encode_dialogue` over ``dialogues``, with the summed counts."""
    stats = EncodeStats()
    examples: list[dict[str, list[int]]] = []
    for d in dialogues:
        examples += encode_dialogue(
            tokenizer, d, max_length=max_length, role=role, with_strategy=with_strategy,
            system=system, stats=stats,
        )  # fmt: skip
    return examples, stats


def with_labels(example: dict[str, list[int]]) -> dict[str, list[int]]:
    """``input_ids`` and ``labels`` (the ids where the mask is 1, -100 elsewhere): what the
    trainer's collator pads and the model's loss reads, whatever trl does with masks.

    >>> with_labels({"input_ids": [5, 6, 7], "completion_mask": [0, 1, 1]})["labels"]
    [-100, 6, 7]
    """
    ids, mask = example["input_ids"], example["completion_mask"]
    return {"input_ids": ids, "labels": [i if m else -100 for i, m in zip(ids, mask, strict=True)]}
