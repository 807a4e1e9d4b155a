"""The likelihood counselor: a local causal LM scores each strategy name as the continuation
of the counselor prompt, and the argmax is taken (SPEC eq. 4):
``o* = argmax_o sum_t log P(o_t | prompt, o_<t)``.

All 8 candidates are scored in one batched forward pass. With a LoRA adapter trained on
ESConv (the counselor issue) this is the paper's Strategy Counselor; without one it is the
base model's zero-shot preference.
"""

from __future__ import annotations

import asyncio
import inspect
import random
from pathlib import Path

from sweetiechat.agents.counselor import CounselorAgent, StrategyChoice, softmax
from sweetiechat.backends.local import EMBEDDED, LoadedLM, load_causal_lm
from sweetiechat.prompts import PromptTemplate, load_prompt
from sweetiechat.taxonomy import Strategy
from sweetiechat.types import Dialogue

__all__ = ["LikelihoodCounselor"]


def _cache_argument(model: object) -> str:
    """``cache`` in newer transformers, ``past_key_values`` before."""
    forward = getattr(model, "forward", None)
    params = inspect.signature(forward).parameters if forward else {}
    return "cache" if "cache" in params else "past_key_values"


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
        normalize: str = "sum",
        temperature: float = 0.0,
        prompt: PromptTemplate | None = None,
        prompts_dir: str | Path | None = None,
        window: int = 6,
    ) -> None:
        if normalize not in ("sum", "mean"):
            raise ValueError("normalize must be 'sum' or 'mean'")
        self.model_name = model
        self.adapter = adapter
        self.normalize = normalize
        self.temperature = temperature
        self.prompt = prompt or load_prompt("counselor", prompts_dir)
        self.window = window
        self.name = f"likelihood:{model}" + (f"+{Path(adapter).name}" if adapter else "")

    def _lm(self) -> LoadedLM:
        return load_causal_lm(self.model_name, self.adapter)

    def log_likelihoods(self, dialogue: Dialogue) -> dict[Strategy, float]:
        """Log-likelihood of each strategy name given the counselor prompt.

        The shared prompt is encoded once; the 8 names are then scored together in one
        batched forward pass over the prompt's key/value cache.
        """
        import torch

        lm = self._lm()
        tok = lm.tokenizer
        chat = [{"role": r, "content": c} for r, c in self.render(self.prompt, dialogue)]
        prefix = tok.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
        prefix_ids = tok(prefix, add_special_tokens=False)["input_ids"]
        label_ids = [tok(s.value, add_special_tokens=False)["input_ids"] for s in Strategy]
        n, width = len(label_ids), max(len(ids) for ids in label_ids)
        labels = torch.full((n, width), tok.pad_token_id, dtype=torch.long)
        for i, ids in enumerate(label_ids):  # right padding after the shared prefix
            labels[i, : len(ids)] = torch.tensor(ids)
        with lm.lock, torch.inference_mode():
            first = lm.model(input_ids=torch.tensor([prefix_ids]), use_cache=True)
            cache = getattr(first, "cache", None) or first.past_key_values
            cache.batch_repeat_interleave(n)
            mask = torch.ones((n, len(prefix_ids) + width), dtype=torch.long)
            kwargs = {_cache_argument(lm.model): cache}
            rest = lm.model(input_ids=labels, attention_mask=mask, **kwargs).logits
        # Position t of the name is predicted by the prefix's last logit (t = 0) or by the
        # name's own token t - 1.
        logits = torch.cat([first.logits[:, -1:].expand(n, 1, -1), rest[:, :-1]], dim=1)
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        out: dict[Strategy, float] = {}
        for i, (strategy, ids) in enumerate(zip(Strategy, label_ids, strict=True)):
            total = logprobs[i, torch.arange(len(ids)), torch.tensor(ids)].sum().item()
            out[strategy] = total / len(ids) if self.normalize == "mean" else total
        return out

    async def aselect(self, dialogue: Dialogue) -> StrategyChoice:
        scores = await asyncio.to_thread(self.log_likelihoods, dialogue)
        probs = softmax(scores)
        if self.temperature <= 0:
            return StrategyChoice(max(scores, key=scores.__getitem__), probs)
        tempered = softmax({s: v / self.temperature for s, v in scores.items()})
        rng = random.Random(f"{dialogue.id}:{len(dialogue.turns)}")
        pick = rng.choices(list(tempered), weights=list(tempered.values()))[0]
        return StrategyChoice(pick, probs)
