"""The likelihood counselor: a local causal LM scores each strategy name as the continuation
of the counselor prompt, and the best one is taken,
``o* = argmax_o sum_t log P(o_t | prompt, o_<t)`` (Ye et al., COLING 2025; docs/method.md).

The scoring is :class:`~sweetiechat.backends.scoring.LikelihoodChooser`: all 8 candidates in
one batched forward pass. With a LoRA adapter trained on ESConv this is the paper's Strategy
Counselor; without one it is the base model's zero-shot preference.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Literal

from sweetiechat.agents.counselor import (
    STRATEGY_OPTIONS,
    CounselorAgent,
    StrategyChoice,
    strategy_choice,
)
from sweetiechat.backends.local import EMBEDDED
from sweetiechat.backends.scoring import LikelihoodChooser
from sweetiechat.prompts import PromptTemplate, load_prompt
from sweetiechat.taxonomy import Strategy
from sweetiechat.types import Dialogue

__all__ = ["LikelihoodCounselor"]


class LikelihoodCounselor(CounselorAgent):
    """Scores the 8 strategy names with a local causal LM.

    Args:
        model: ``"embedded"`` (SmolLM2), a local checkpoint folder, or a hub name.
        adapter: an optional peft LoRA adapter folder (the trained counselor).
        normalize: ``"sum"`` (the paper's joint log-likelihood) or ``"mean"`` (per token,
            which does not favour short names).
        temperature: 0 takes the argmax (the paper). Above 0 the strategy is sampled from
            ``softmax(scores / temperature)``, seeded by the dialogue id and turn, so reruns
            agree. An untrained model puts most mass on one name (SmolLM2: "Question"), so the
            offline default samples at 1.0 to keep demo data varied.
        prompt, prompts_dir, window: as for the other agents.
    """

    def __init__(
        self,
        model: str = EMBEDDED,
        *,
        adapter: str | Path | None = None,
        normalize: Literal["sum", "mean"] = "sum",
        temperature: float = 0.0,
        prompt: PromptTemplate | None = None,
        prompts_dir: str | Path | None = None,
        window: int = 6,
    ) -> None:
        self.chooser = LikelihoodChooser(model, adapter=adapter, normalize=normalize)
        self.model_name = model
        self.adapter = adapter
        self.normalize = normalize
        self.temperature = temperature
        self.prompt = prompt or load_prompt("counselor", prompts_dir)
        self.window = window
        self.name = self.chooser.name

    def log_likelihoods(self, dialogue: Dialogue) -> dict[Strategy, float]:
        """Log-likelihood of each strategy name given the counselor prompt for ``dialogue``."""
        messages = self.render(self.prompt, dialogue)
        scores = self.chooser.log_likelihoods(messages, STRATEGY_OPTIONS)
        return {Strategy(k): v for k, v in scores.items()}

    async def aselect(self, dialogue: Dialogue) -> StrategyChoice:
        messages = self.render(self.prompt, dialogue)
        choice = strategy_choice(await self.chooser.achoose(messages, STRATEGY_OPTIONS))
        probs = choice.probabilities
        if self.temperature <= 0 or probs is None:
            return choice
        # softmax(scores / T) is proportional to (p / max p) ** (1 / T), p = softmax(scores).
        top = max(probs.values())
        weights = [(probs[s] / top) ** (1 / self.temperature) for s in Strategy]
        rng = random.Random(f"{dialogue.id}:{len(dialogue.turns)}")
        pick = rng.choices(list(Strategy), weights=weights)[0]
        return StrategyChoice(pick, probs)
