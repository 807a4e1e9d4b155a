"""Strategy counselors: ``select(dialogue)`` picks one of the 8 strategies for the next
supporter turn (SPEC §3.4.2), with the probability of each strategy when available.

- :class:`PromptedCounselor`: any chat model asked to choose; answers parsed tolerantly.
- :class:`ServedCounselor`: a vLLM OpenAI-compatible endpoint serving the counselor LoRA;
  constrained choice or ``top_logprobs``, never free text.
- :class:`~sweetiechat.agents.likelihood.LikelihoodCounselor`: a local causal LM scoring
  the 8 names (SPEC eq. 4).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel

from sweetiechat._async import run_sync
from sweetiechat.agents.base import render_history, strategy_list
from sweetiechat.backends.base import ChatBackend, Message, as_backend
from sweetiechat.prompts import PromptTemplate, load_prompt
from sweetiechat.taxonomy import Strategy, UnknownLabelError, parse_strategy
from sweetiechat.types import Dialogue

__all__ = [
    "DEFAULT_STRATEGY",
    "CounselorAgent",
    "PromptedCounselor",
    "ServedCounselor",
    "StrategyChoice",
    "counselor_messages",
]

#: The fallback when a counselor gives no usable answer: ESConv's most frequent strategy.
DEFAULT_STRATEGY = Strategy.QUESTION


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


def softmax(logits: dict[Strategy, float]) -> dict[Strategy, float]:
    """Normalise log-scores over the 8 strategies (absent ones get probability 0)."""
    top = max(logits.values())
    exp = {s: math.exp(v - top) for s, v in logits.items()}
    total = sum(exp.values())
    return {s: exp.get(s, 0.0) / total for s in Strategy}


class PromptedCounselor(CounselorAgent):
    """Any chat model asked to choose; the answer is parsed by the tolerant parser.

    An unparseable answer is asked once more; if that fails too, :data:`DEFAULT_STRATEGY`
    is taken and the choice is marked ``fallback=True`` (recorded in the dialogue's metadata).
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
        messages = self.render(self.prompt, dialogue)
        answers = []
        for _ in range(2):
            answer = (await self.backend.acomplete(messages, **self.model_options)).text
            try:
                return StrategyChoice(parse_strategy(answer.strip().splitlines()[0]))
            except (UnknownLabelError, IndexError):
                answers.append(answer)
        return StrategyChoice(
            DEFAULT_STRATEGY, fallback=True, reason=f"unparseable answers: {answers!r}"[:200]
        )


class ServedCounselor(CounselorAgent):
    """The trained counselor served by vLLM, where the LoRA adapter is the model name.

    Args:
        backend: a backend for the endpoint, e.g.
            ``LangChainBackend(ChatOpenAI(base_url=URL, model="counselor", max_retries=0))``.
        mode: ``"choice"`` constrains decoding to the 8 labels (vLLM ``structured_outputs``);
            ``"logprobs"`` reads the first token's ``top_logprobs`` and maps each token to the
            unique label it starts, giving a probability per strategy.

    An answer that is not exactly one of the labels is never trusted: it is asked once more,
    then :data:`DEFAULT_STRATEGY` is taken with ``fallback=True``.
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
    ) -> None:
        self.backend = as_backend(backend)
        self.mode = mode
        self.prompt = prompt or load_prompt("counselor", prompts_dir)
        self.window = window
        self.top_logprobs = top_logprobs
        self.name = f"served-{mode}:{self.backend.name}"

    def _options(self) -> dict[str, Any]:
        if self.mode == "choice":
            labels = [s.value for s in Strategy]
            return {
                "temperature": 0,
                "max_tokens": 16,
                "extra_body": {"structured_outputs": {"choice": labels}},
            }
        return {
            "temperature": 0,
            "max_tokens": 1,
            "logprobs": True,
            "top_logprobs": self.top_logprobs,
        }

    def _from_logprobs(self, top: dict[str, float]) -> dict[Strategy, float] | None:
        scores: dict[Strategy, float] = {}
        for token, logprob in top.items():
            piece = token.strip().lower()
            if not piece:
                continue
            matches = [s for s in Strategy if s.value.lower().startswith(piece)]
            if len(matches) == 1:
                s = matches[0]
                scores[s] = math.log(math.exp(scores.get(s, -math.inf)) + math.exp(logprob))
        return softmax(scores) if scores else None

    async def aselect(self, dialogue: Dialogue) -> StrategyChoice:
        messages = self.render(self.prompt, dialogue)
        problems = []
        for _ in range(2):
            completion = await self.backend.acomplete(messages, **self._options())
            if self.mode == "logprobs":
                probs = (
                    self._from_logprobs(completion.top_logprobs[0])
                    if (completion.top_logprobs)
                    else None
                )
                if probs:
                    return StrategyChoice(max(probs, key=probs.__getitem__), probs)
                problems.append("no strategy among the top logprobs")
            else:
                exact = {s.value: s for s in Strategy}.get(completion.text.strip())
                if exact is not None:
                    return StrategyChoice(exact)
                problems.append(f"not a label: {completion.text[:40]!r}")
        return StrategyChoice(DEFAULT_STRATEGY, fallback=True, reason="; ".join(problems))
