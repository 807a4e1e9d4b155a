"""Talking to the supporter agent: a chat session that streams replies, lets a counselor pick
each reply's strategy, and applies the crisis-safety policy to every message.

:class:`ChatSession` is what ``sweetiechat chat`` (the terminal) and the web app's chat page
use; :func:`open_chat` builds one for a local model (the embedded SmolLM2 by default, with a
fine-tuned adapter when given) or for any LangChain chat model.

The safety policy (docs/safety.md): every user message is read by the crisis detector.

- No risk so far in the chat: the reply streams as it is generated, then passes the reply
  check (no method information); a reply that fails is withdrawn and replaced by a neutral
  one, and the withdrawal is shown and recorded.
- Risk in this message or an earlier one: the model is given the crisis protocol with the
  locale's resources, and its reply is checked *before* it is shown (acknowledges the risk,
  asks about safety or points to help, no method information); it is regenerated up to the
  guard's ``max_tries`` and otherwise replaced by the vetted template. The checked reply is
  then shown whole.

>>> from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
>>> chat = ChatSession(GenericFakeChatModel(messages=iter(["What keeps you up at night?"])))
>>> async def talk():
...     return [piece async for piece in chat.send("I can't sleep.")]
>>> import asyncio
>>> pieces = asyncio.run(talk())
>>> len(pieces) > 1, "".join(pieces)
(True, 'What keeps you up at night?')
>>> [t.role for t in chat.dialogue.turns]
['seeker', 'supporter']
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweetiechat.agents.slots import Counselor, check_slot, slot_name
from sweetiechat.agents.tuned import AGENT_SYSTEM_PROMPT, agent_messages, parse_reply
from sweetiechat.io import write_dialogues
from sweetiechat.quality.guard import NEUTRAL_REPLY
from sweetiechat.quality.replies import check_reply
from sweetiechat.quality.risk import RiskAssessment
from sweetiechat.safety import SafetyGuard
from sweetiechat.taxonomy import ProblemType, Strategy, parse_problem_type
from sweetiechat.types import Dialogue, DialogueMeta, Turn

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from sweetiechat.agents.tuned import AgentInfo
    from sweetiechat.backends.local import LocalChatModel

__all__ = ["WITHDRAWN", "ChatSession", "open_chat"]

#: Shown when a streamed reply failed the safety check after it was shown.
WITHDRAWN = "[withdrawn by the safety check]"
#: The problem type a chat transcript is labelled with unless told otherwise.
DEFAULT_PROBLEM_TYPE = ProblemType.CHRONIC_STRESS
_TAG_WAIT = 60  # characters a leading "[" is held back waiting for its "]"


def _strategy_line(strategy: Strategy) -> str:
    return (
        f"\nIn your next reply, use the strategy {strategy.value}: {strategy.definition}"
        if strategy.definition
        else f"\nIn your next reply, use the strategy {strategy.value}."
    )


class ChatSession:
    """One conversation between a person (the seeker) and the supporter agent.

    Args:
        model: the supporter's chat model: any LangChain chat model (streamed with
            ``astream``), or a :class:`~sweetiechat.backends.local.LocalChatModel`.
        agent: the fine-tuned agent's descriptor when ``model`` runs its adapter: the prompt
            is then exactly its training format (:func:`~sweetiechat.agents.tuned.agent_prompt`).
        counselor: picks each reply's strategy (anything fitting
            :class:`~sweetiechat.agents.slots.Counselor`); ``None``: the model replies freely.
        guard: the crisis guard (detector, resources, reply check); default: the shared
            detector with the US resources.
        problem_type: the label of the saved transcript (a chat does not ask for one).
        dialogue_id: the transcript's id (default: ``chat-<time>-<random>``).
        system: the system prompt of a model without a fine-tuned descriptor.
        model_options: passed to every model call (``max_tokens``, ``temperature`` ...).
    """

    def __init__(
        self,
        model: BaseChatModel,
        *,
        agent: AgentInfo | None = None,
        counselor: Counselor | None = None,
        guard: SafetyGuard | None = None,
        problem_type: ProblemType | str = DEFAULT_PROBLEM_TYPE,
        dialogue_id: str | None = None,
        system: str = AGENT_SYSTEM_PROMPT,
        model_options: dict[str, Any] | None = None,
    ) -> None:
        if agent is not None and not hasattr(model, "astream_prompt"):
            raise ValueError(
                "a fine-tuned agent's prompt format needs a LocalChatModel running its adapter"
            )
        self.model = model
        self.agent = agent
        self.counselor = counselor
        if counselor is not None:
            check_slot("counselor", counselor)
        self.guard = guard or SafetyGuard()
        self.problem_type = parse_problem_type(problem_type)
        self.system = agent.system_prompt if agent is not None else system
        self.model_options = dict(model_options or {})
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        self.dialogue_id = dialogue_id or f"chat-{stamp}-{uuid.uuid4().hex[:6]}"
        self.turns: list[Turn] = []
        self.last_strategy: Strategy | None = None
        """The strategy of the last reply (the counselor's pick, or the model's own tag)."""
        self.strategy_probabilities: dict[Strategy, float] | None = None
        """The counselor's probabilities for the last reply (``None`` without them)."""
        self.last_risk: RiskAssessment | None = None
        """The detector's reading of the last user message, in context."""
        self.last_withdrawn = False
        """True when the last streamed reply failed the check and was replaced."""
        self._events: list[dict[str, Any]] = []
        self._first_risk: tuple[int, RiskAssessment] | None = None
        self._counselor_fallbacks = 0
        self._started = time.time()

    def warm_up(self) -> None:
        """Load what the first reply needs (the local model, the crisis detector), so it
        does not wait for them."""
        load = getattr(self.model, "_lm", None)
        if callable(load):
            load()
        self.guard.assess([Turn(role="seeker", text="Hello.")])

    # -- the transcript ---------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The supporter model's label."""
        for attribute in ("model_name", "model"):
            value = getattr(self.model, attribute, None)
            if isinstance(value, str) and value:
                return value
        return type(self.model).__name__

    @property
    def dialogue(self) -> Dialogue:
        """The conversation so far, as a dialogue in sweetiechat's format."""
        models = {"seeker": "human", "supporter": self.name}
        models["counselor"] = slot_name(self.counselor) if self.counselor else "none"
        safety: dict[str, Any] | None = None
        if self._first_risk is not None or self._events:
            safety = {"events": list(self._events)}
            if self._first_risk is not None:
                i, a = self._first_risk
                safety.update(turn=i, category=a.category, layer=a.layer, score=round(a.score, 4))
        meta = DialogueMeta(
            source="chat",
            models=models,
            timings={"chat": round(time.time() - self._started, 3)},
            counselor_fallbacks=self._counselor_fallbacks,
            crisis=self._first_risk is not None,
        )
        if safety is not None:
            meta = meta.model_copy(update={"safety": safety})
        return Dialogue(
            id=self.dialogue_id,
            problem_type=self.problem_type,
            turns=list(self.turns),
            meta=meta,
        )

    def save(self, path: str | Path) -> Path:
        """Write the transcript to ``path`` (JSONL, one dialogue; atomic: a temporary file
        renamed over it, so an interrupted save never leaves half a file)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_dialogues(path, [self.dialogue])
        return path

    # -- one exchange -----------------------------------------------------------------------

    async def send(self, text: str) -> AsyncIterator[str]:
        """Say ``text`` as the seeker and stream the supporter's reply, piece by piece.

        Afterwards :attr:`dialogue` holds both turns, and :attr:`last_strategy`,
        :attr:`strategy_probabilities` and :attr:`last_risk` describe the reply.

        Raises:
            ValueError: ``text`` is empty.
        """
        text = text.strip()
        if not text:
            raise ValueError("say something: the message is empty")
        self.turns.append(Turn(role="seeker", text=text))
        self.last_withdrawn = False
        instruct, check = await self.guard.aassess_for_reply(self.turns)
        self.last_risk = check
        if check.risk and self._first_risk is None:
            self._first_risk = (len(self.turns) - 1, check)
        strategy = await self._choose()
        safety = self.guard.instruction(instruct) if instruct.risk else ""
        index = len(self.turns)
        if instruct.risk:  # risk now or earlier: check before showing
            reply = await self._checked_reply(strategy, safety, check, index)
            yield reply
        else:
            reply = ""
            async for piece in self._stream(strategy, safety):
                reply += piece
                yield piece
            reply = reply.strip()
            verdict = check_reply(reply, check) if reply else None
            if verdict is None or not verdict.ok:
                problems = [verdict.problems] if verdict else [["empty reply"]]
                outcome = "withdrawn" if verdict else "empty"
                self._events.append(_event(index, check, outcome, problems))
                self.last_withdrawn = verdict is not None
                note = f"\n{WITHDRAWN} " if verdict else ""
                reply = NEUTRAL_REPLY
                yield note + reply
        self.turns.append(Turn(role="supporter", text=reply, strategy=self.last_strategy))

    async def _choose(self) -> Strategy | None:
        """The counselor's strategy for the next reply (``None`` without a counselor)."""
        self.last_strategy = None
        self.strategy_probabilities = None
        if self.counselor is None:
            return None
        choice = await self.counselor.aselect(self.dialogue)
        strategy = getattr(choice, "strategy", None)
        if not isinstance(strategy, Strategy):
            raise TypeError(
                f"the counselor {slot_name(self.counselor)!r} returned "
                f"{type(choice).__name__} {choice!r}; aselect() must return a StrategyChoice"
            )
        self._counselor_fallbacks += bool(getattr(choice, "fallback", False))
        self.last_strategy = strategy
        self.strategy_probabilities = getattr(choice, "probabilities", None)
        return strategy

    async def _checked_reply(
        self, strategy: Strategy | None, safety: str, check: RiskAssessment, index: int
    ) -> str:
        """A reply that passed the check (or the template), with the guard's events."""
        from sweetiechat.quality.guard import SAFETY_EVENTS

        async def generate() -> str:
            return "".join([p async for p in self._stream(strategy, safety)]).strip() or "."

        token = SAFETY_EVENTS.set(self._events)
        try:
            text, templated = await self.guard.areply(generate, check, index)
        finally:
            SAFETY_EVENTS.reset(token)
        if templated:
            self.last_strategy = Strategy.INFORMATION if check.risk else self.last_strategy
        return text

    async def _stream(self, strategy: Strategy | None, safety: str) -> AsyncIterator[str]:
        """The model's reply as it is generated, a leading ``[Strategy]`` tag taken off (it
        sets :attr:`last_strategy` when there is no counselor)."""
        pending = ""
        tag_done = False
        started = False  # leading whitespace (after a tag, too) is not shown
        async for piece in self._raw_stream(strategy, safety):
            if tag_done:
                if not started:
                    piece = piece.lstrip()
                    started = bool(piece)
                if piece:
                    yield piece
                continue
            pending += piece
            stripped = pending.lstrip()
            if stripped.startswith("[") and "]" not in stripped and len(stripped) < _TAG_WAIT:
                continue  # may be a strategy tag: wait for its end
            if not stripped:
                continue
            tag_done = True
            tagged, rest = parse_reply(stripped) if stripped.startswith("[") else (None, stripped)
            if tagged is not None and self.counselor is None:
                self.last_strategy = tagged
            if tagged is None:
                rest = stripped
            rest = rest.lstrip()
            if rest:
                started = True
                yield rest
        if not tag_done and pending.strip():
            tagged, rest = parse_reply(pending.strip())
            if tagged is not None and self.counselor is None:
                self.last_strategy = tagged
            if rest:
                yield rest

    async def _raw_stream(self, strategy: Strategy | None, safety: str) -> AsyncIterator[str]:
        dialogue = self.dialogue
        trained_tags = self.agent is not None and self.agent.with_strategy
        system = self.system + safety
        if strategy is not None and not trained_tags:
            system += _strategy_line(strategy)
        if self.agent is not None:
            from sweetiechat.agents.tuned import agent_prompt

            local: LocalChatModel = self.model  # type: ignore[assignment]
            prompt = agent_prompt(
                local._lm().tokenizer,
                dialogue,
                with_strategy=self.agent.with_strategy,
                strategy=strategy if trained_tags else None,
                system=system,
            )
            async for piece in local.astream_prompt(prompt, **self.model_options):
                yield piece
            return
        messages = agent_messages(dialogue, system=system)
        async for chunk in self.model.astream(messages, **self.model_options):
            content = chunk.content
            if isinstance(content, str) and content:
                yield content


def _event(turn: int, a: RiskAssessment, outcome: str, problems: list[list[str]]) -> dict[str, Any]:
    return {
        "turn": turn,
        "category": a.category,
        "outcome": outcome,
        "failed_tries": len(problems),
        "problems": problems,
    }


def open_chat(
    model: str | BaseChatModel = "embedded",
    adapter: str | Path | None = None,
    counselor: str | Path | Counselor | None = None,
    *,
    max_new_tokens: int = 96,
    temperature: float = 0.7,
    locale: str | None = None,
    resources_file: str | Path | None = None,
    problem_type: ProblemType | str = DEFAULT_PROBLEM_TYPE,
    dialogue_id: str | None = None,
) -> ChatSession:
    """A chat with a supporter model.

    Args:
        model: ``"embedded"`` (SmolLM2, the default), a local model folder, or a LangChain
            chat model object.
        adapter: a fine-tuned agent's adapter folder (``sweetiechat agent train``); with
            ``"embedded"`` and no adapter, a default adapter shipped in the package is used
            when there is one.
        counselor: a trained counselor folder (``sweetiechat counselor train``) or a
            counselor object; ``None``: no counselor.
        max_new_tokens, temperature: sampling of a local model.
        locale, resources_file: the crisis resources replies point to (default: US).
        problem_type, dialogue_id: labels of the saved transcript.

    Raises:
        UserError, ConfigError: a missing folder, an adapter of another base model, a local
            model stack that is not installed.
    """
    agent: AgentInfo | None = None
    chat_model: BaseChatModel
    if isinstance(model, str):
        from sweetiechat.backends.local import EMBEDDED, LocalChatModel

        if adapter is None and model == EMBEDDED:
            adapter = default_adapter()
        if adapter is not None:
            from sweetiechat.agents.tuned import check_base, read_agent_info

            agent = read_agent_info(adapter)
            check_base(agent, model, adapter)
            if agent.role != "supporter":
                from sweetiechat.errors import UserError

                raise UserError(f"{adapter}: a {agent.role} agent, not a supporter; give one")
        chat_model = LocalChatModel(
            model_path=model,
            adapter=str(adapter) if adapter else None,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
        )
    else:
        if adapter is not None:
            raise ValueError("adapter needs a local model path, not a chat model object")
        chat_model = model
    chosen: Counselor | None
    if counselor is None or hasattr(counselor, "aselect"):
        chosen = counselor
    else:
        from sweetiechat.agents.trained import load_trained_counselor

        chosen = load_trained_counselor(Path(str(counselor)))
    return ChatSession(
        chat_model,
        agent=agent,
        counselor=chosen,
        guard=SafetyGuard(locale=locale, resources_file=resources_file),
        problem_type=problem_type,
        dialogue_id=dialogue_id,
    )


def default_adapter() -> Path | None:
    """A supporter adapter shipped with the package for the embedded model, if any
    (``sweetiechat/adapters/<name>/`` with a supporter's ``sweetiechat_agent.json``)."""
    import json

    from sweetiechat.agents.tuned import AGENT_FILE

    root = Path(__file__).parent / "adapters"
    if not root.is_dir():
        return None
    for folder in sorted(p for p in root.iterdir() if (p / AGENT_FILE).is_file()):
        try:
            info = json.loads((folder / AGENT_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        supporter = info.get("role", "supporter") == "supporter"
        weights = (folder / "adapter_config.json").is_file()
        if supporter and weights and info.get("base_model") == "embedded":
            return folder
    return None
