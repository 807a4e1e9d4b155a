"""Choosing by likelihood: a local causal LM scores each option as the continuation of the
prompt, ``score(o) = sum_t log P(o_t | prompt, o_<t)``, and the best one is taken (the
Strategy Counselor's decision rule in Ye et al., COLING 2025; see docs/method.md).

The prompt is the chat template with the generation prompt; it is encoded once (its start
reused from earlier prompts, see :mod:`sweetiechat.backends.prefix`), and all options are then
scored together in one forward pass over its key/value cache, packed into one row.
Needs the ``local`` extra (torch and transformers are imported when a model is used).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from sweetiechat.backends.base import Message
from sweetiechat.backends.choice import Choice, check_options
from sweetiechat.backends.local import EMBEDDED, LoadedLM, load_causal_lm
from sweetiechat.backends.prefix import forward_options, prefill
from sweetiechat.backends.threads import overlap_default, use_worker_threads

__all__ = ["LikelihoodChooser", "softmax"]


def softmax(scores: dict[str, float]) -> dict[str, float]:
    """Normalise log-scores into probabilities that sum to 1.

    >>> softmax({"a": 0.0, "b": 0.0})
    {'a': 0.5, 'b': 0.5}
    """
    top = max(scores.values())
    exp = {k: math.exp(v - top) for k, v in scores.items()}
    total = sum(exp.values())
    return {k: v / total for k, v in exp.items()}


class LikelihoodChooser:
    """A :class:`~sweetiechat.backends.choice.ChoiceBackend` that scores options locally.

    Args:
        model: ``"embedded"`` (SmolLM2), a local checkpoint folder, or a hub name.
        adapter: an optional peft LoRA adapter folder.
        normalize: ``"sum"`` (the joint log-likelihood) or ``"mean"`` (per token, which does
            not favour short options).
    """

    def __init__(
        self,
        model: str = EMBEDDED,
        *,
        adapter: str | Path | None = None,
        normalize: Literal["sum", "mean"] = "sum",
    ) -> None:
        if normalize not in ("sum", "mean"):
            raise ValueError("normalize must be 'sum' or 'mean'")
        self.model_name = model
        self.adapter = adapter
        self.normalize = normalize
        self.name = f"likelihood:{model}" + (f"+{Path(adapter).name}" if adapter else "")

    def lm(self) -> LoadedLM:
        """The loaded model (cached per process by :func:`load_causal_lm`)."""
        return load_causal_lm(self.model_name, self.adapter)

    def prompt_ids(self, messages: Sequence[Message]) -> list[int]:
        """The token ids of ``messages`` in the chat template, with the generation prompt."""
        tok = self.lm().tokenizer
        chat = [{"role": r, "content": c} for r, c in messages]
        prefix = tok.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
        return list(tok(prefix, add_special_tokens=False)["input_ids"])

    def log_likelihoods(
        self, messages: Sequence[Message], options: Sequence[str]
    ) -> dict[str, float]:
        """The log-likelihood of each option after ``messages`` (summed or averaged over its
        tokens, as ``normalize`` says), in one pass over the prompt's cache."""
        import torch

        lm = self.lm()
        tok = lm.tokenizer
        prefix_ids = self.prompt_ids(messages)
        label_ids = [tok(o, add_special_tokens=False)["input_ids"] for o in options]
        # All options in one row after the prompt, each token seeing the prompt and the tokens
        # before it in its own option (no copy of the prompt's cache per option, no padding).
        owner = torch.tensor([i for i, ids in enumerate(label_ids) for _ in ids])
        offset = torch.tensor([j for ids in label_ids for j in range(len(ids))])
        own = (owner[:, None] == owner[None, :]) & (offset[:, None] >= offset[None, :])
        seen = torch.cat([torch.ones((len(owner), len(prefix_ids)), dtype=torch.bool), own], 1)
        dtype = lm.model.dtype
        mask = torch.zeros(seen.shape, dtype=dtype).masked_fill(~seen, torch.finfo(dtype).min)
        flat = torch.tensor([[t for ids in label_ids for t in ids]])
        if overlap_default():  # beside a batch that is decoding in its own thread
            use_worker_threads()
        with lm.lock, torch.inference_mode():
            first = prefill(lm.model, prefix_ids, lm.prefix)  # reuses an earlier prompt's start
            kwargs: dict[str, Any] = {forward_options(lm.model)[0]: first.cache}
            rest = lm.model(
                input_ids=flat,
                attention_mask=mask[None, None],
                position_ids=(offset + len(prefix_ids))[None],
                **kwargs,
            ).logits[0]
        # Token t of an option is predicted by the prompt's last logits (t = 0) or by the
        # option's own token t - 1.
        head = torch.log_softmax(first.logits[0].float(), dim=-1)
        tail = torch.log_softmax(rest.float(), dim=-1)
        out: dict[str, float] = {}
        start = 0
        for option, ids in zip(options, label_ids, strict=True):
            total = head[ids[0]].item() + sum(
                tail[start + j - 1, t].item() for j, t in enumerate(ids) if j
            )
            start += len(ids)
            out[option] = total / len(ids) if self.normalize == "mean" else total
        return out

    async def achoose(
        self,
        messages: Sequence[Message],
        options: Sequence[str],
        *,
        default: str | None = None,
        **_: Any,
    ) -> Choice:
        """The most likely option, with the softmax of the scores as probabilities."""
        labels, _fallback = check_options(options, default)
        scores = await asyncio.to_thread(self.log_likelihoods, messages, labels)
        return Choice(max(scores, key=scores.__getitem__), softmax(scores))
