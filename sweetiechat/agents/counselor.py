"""Strategy counselors: ``select(dialogue)`` picks one of the 8 strategies for the next
supporter turn, with the probability of each strategy when available (the Strategy
Counselor of Ye et al., COLING 2025; see docs/method.md).

Each is a thin user of :func:`sweetiechat.backends.choice.achoose`: it renders
:func:`counselor_messages`, chooses among the 8 strategy names, and maps the
:class:`~sweetiechat.backends.choice.Choice` back to a :class:`StrategyChoice`.

- :class:`PromptedCounselor`: any chat model asked to choose; answers parsed tolerantly.
- :class:`ServedCounselor`: a vLLM OpenAI-compatible endpoint serving the counselor LoRA;
  constrained choice or ``top_logprobs``, never free text.
- :class:`~sweetiechat.agents.likelihood.LikelihoodCounselor`: a local causal LM scoring
  the 8 names.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel

from sweetiechat._async import run_sync
from sweetiechat.agents.base import render_history, strategy_list
from sweetiechat.backends.base import ChatBackend, Message, as_backend
from sweetiechat.backends.choice import Choice, achoose
from sweetiechat.backends.served import MIN_MASS, ServedChooser
from sweetiechat.prompts import PromptTemplate, load_prompt
from sweetiechat.taxonomy import Strategy, UnknownLabelError, parse_strategy
from sweetiechat.types import Dialogue

__all__ = [
    "DEFAULT_STRATEGY",
    "STRATEGY_OPTIONS",
    "CounselorAgent",
    "PromptedCounselor",
    "ServedCounselor",
    "StrategyChoice",
    "counselor_messages",
    "strategy_choice",
]

#: The fallback when a counselor gives no usable answer: ESConv's most frequent strategy.
DEFAULT_STRATEGY = Strategy.QUESTION
#: The options a counselor chooses among: the 8 strategy names, in ESConv's order.
STRATEGY_OPTIONS = tuple(s.value for s in Strategy)


@dataclass(frozen=True)
class StrategyChoice:
    """A counselor's decision."""

    strategy: Strategy
    """The chosen strategy."""
    probabilities: dict[Strategy, float] | None = None
    """P(strategy | history) for all 8, when the counselor can tell."""
    fallback: bool = False
    """True when the counselor's answer was unusable and a fallback was taken."""
    reason: str = field(default="", compare=False)
    """Why the fallback was taken."""


def counselor_messages(
    dialogue: Dialogue, *, prompt: PromptTemplate | None = None, window: int = 6
) -> list[Message]:
    """The exact messages a counselor sees for ``dialogue``.

    The history is the last ``window`` utterances of ``dialogue`` (everything said up to the
    next supporter turn; the response being chosen for is never part of it). A trained LM
    counselor is trained on these messages (chat template with the generation prompt, then
    the strategy name) and every counselor kind asks with them.

    Args:
        dialogue: the conversation so far.
        prompt: the counselor template; the built-in ``counselor`` prompt by default.
        window: how many recent utterances are shown.

    Returns:
        ``[("system", ...), ("user", ...)]``.
    """
    template = prompt or load_prompt("counselor")
    return template.render(
        strategy_list=strategy_list(),
        history=render_history(dialogue.turns, window),
        problem_type=dialogue.problem_type.value,
    )


class CounselorAgent(ABC):
    """The counselor interface: ``await aselect(dialogue)`` or ``select(dialogue)``."""

    window: int = 6
    name: str = "counselor"

    @abstractmethod
    async def aselect(self, dialogue: Dialogue) -> StrategyChoice:
        """Choose the strategy for the next supporter turn of ``dialogue``."""

    def select(self, dialogue: Dialogue) -> StrategyChoice:
        """Synchronous :meth:`aselect`."""
        return run_sync(self.aselect(dialogue))

    def render(self, prompt: PromptTemplate, dialogue: Dialogue) -> list[Message]:
        """The counselor prompt for ``dialogue``: :func:`counselor_messages`."""
        return counselor_messages(dialogue, prompt=prompt, window=self.window)


def strategy_choice(choice: Choice) -> StrategyChoice:
    """A :class:`~sweetiechat.backends.choice.Choice` among :data:`STRATEGY_OPTIONS` as a
    :class:`StrategyChoice`."""
    probs = choice.probabilities
    return StrategyChoice(
        Strategy(choice.label),
        {Strategy(k): v for k, v in probs.items()} if probs is not None else None,
        fallback=choice.fallback,
        reason=choice.reason,
    )


def _parse_strategy(text: str) -> str | None:
    """The strategy a free answer names, known spellings included, or None."""
    try:
        return parse_strategy(text.strip().splitlines()[0]).value
    except (UnknownLabelError, IndexError):
        return None


class PromptedCounselor(CounselorAgent):
    """Any chat model asked to choose; the answer is parsed by the tolerant parser.

    An unparseable answer is asked once more; if that fails too, :data:`DEFAULT_STRATEGY`
    is taken and the choice is marked ``fallback=True`` (recorded in the dialogue's metadata).
    Given a backend that chooses natively (a
    :class:`~sweetiechat.backends.choice.ChoiceBackend`), that backend decides instead.
    """

    def __init__(
        self,
        backend: ChatBackend | BaseChatModel,
        *,
        prompt: PromptTemplate | None = None,
        prompts_dir: str | Path | None = None,
        window: int = 6,
        model_options: dict[str, Any] | None = None,
    ) -> None:
        self.backend = as_backend(backend)
        self.prompt = prompt or load_prompt("counselor", prompts_dir)
        self.window = window
        self.name = f"prompted:{self.backend.name}"
        self.model_options = {"max_tokens": 16, **(model_options or {})}

    async def aselect(self, dialogue: Dialogue) -> StrategyChoice:
        choice = await achoose(
            self.backend,
            self.render(self.prompt, dialogue),
            STRATEGY_OPTIONS,
            default=DEFAULT_STRATEGY.value,
            parse=_parse_strategy,
            **self.model_options,
        )
        return strategy_choice(choice)


class ServedCounselor(CounselorAgent):
    """The trained counselor served by vLLM, where the LoRA adapter is the model name.

    Args:
        backend: a backend for the endpoint, e.g. ``LangChainBackend(ChatOpenAI(
            base_url=URL, model="counselor", api_key="EMPTY", max_retries=0))``.
        mode: ``"choice"`` constrains decoding to the 8 labels (vLLM ``structured_outputs``);
            ``"logprobs"`` reads the first token's ``top_logprobs``, giving a probability per
            strategy (see :class:`~sweetiechat.backends.served.ServedChooser` for the rule
            that maps tokens to labels).
        min_mass, first_tokens, tokenizer: ``"logprobs"`` mode: the least probability the
            labels' first tokens must carry, and the served tokenizer's first token of each
            label (or the tokenizer) when known.

    An answer that is not exactly one of the labels is never trusted: in ``"choice"`` mode it
    is asked once more; then :data:`DEFAULT_STRATEGY` is taken with ``fallback=True``.
    """

    def __init__(
        self,
        backend: ChatBackend | BaseChatModel,
        *,
        mode: Literal["choice", "logprobs"] = "choice",
        prompt: PromptTemplate | None = None,
        prompts_dir: str | Path | None = None,
        window: int = 6,
        top_logprobs: int = 20,
        min_mass: float = MIN_MASS,
        first_tokens: dict[str, str] | None = None,
        tokenizer: Any = None,
    ) -> None:
        self.backend = as_backend(backend)
        self.mode = mode
        self.prompt = prompt or load_prompt("counselor", prompts_dir)
        self.window = window
        self.top_logprobs = top_logprobs
        self.chooser = ServedChooser(
            self.backend,
            mode=mode,
            top_logprobs=top_logprobs,
            min_mass=min_mass,
            first_tokens=first_tokens,
            tokenizer=tokenizer,
        )
        self.name = f"served-{mode}:{self.backend.name}"

    async def aselect(self, dialogue: Dialogue) -> StrategyChoice:
        messages = self.render(self.prompt, dialogue)
        choice = await self.chooser.achoose(
            messages, STRATEGY_OPTIONS, default=DEFAULT_STRATEGY.value
        )
        return strategy_choice(choice)
