"""Training the ``lm`` counselor: a causal LM with a LoRA adapter, trained with trl.

Each example is the counselor's messages (:func:`~sweetiechat.agents.counselor.counselor_messages`)
in the chat template with the generation prompt, followed by the gold strategy's name and the
end-of-sequence token; the loss falls on the name and that token only. These are exactly the
tokens :class:`~sweetiechat.agents.likelihood.LikelihoodCounselor` scores at inference, so the
trained adapter is used with ``LikelihoodCounselor(base, adapter=OUT)``, or served by vLLM
(``--enable-lora --lora-modules counselor=OUT``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sweetiechat.agents.counselor import counselor_messages
from sweetiechat.backends.base import Message
from sweetiechat.trainer.arguments import causal_lora, early_stopping, sft_arguments
from sweetiechat.trainer.common import (
    LABELS,
    progress_callback,
    quiet_datasets,
    quiet_trainer,
    step_timer,
    warmup_steps,
)
from sweetiechat.trainer.config import CounselorTrainConfig
from sweetiechat.trainer.dataset import StrategyExample

__all__ = ["encode_lm_example", "prompt_ids", "train_lm"]


def prompt_ids(tokenizer: Any, messages: Sequence[Message]) -> list[int]:
    """The counselor prompt's token ids: the chat template with the generation prompt.

    The same ids :class:`~sweetiechat.backends.scoring.LikelihoodChooser` scores after.
    """
    chat = [{"role": r, "content": c} for r, c in messages]
    prefix = tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
    return list(tokenizer(prefix, add_special_tokens=False)["input_ids"])


def encode_lm_example(
    tokenizer: Any, example: StrategyExample, window: int
) -> dict[str, list[int]]:
    """``input_ids`` (prompt + strategy name + end token) and ``completion_mask`` (1 on the
    name and end token: the only tokens in the loss)."""
    prompt = prompt_ids(tokenizer, counselor_messages(example.context, window=window))
    target = list(tokenizer(example.gold.value, add_special_tokens=False)["input_ids"])
    if tokenizer.eos_token_id is not None:
        target.append(tokenizer.eos_token_id)
    return {
        "input_ids": prompt + target,
        "completion_mask": [0] * len(prompt) + [1] * len(target),
    }


def _weighted_trainer(base: type, tokenizer: Any, weights: list[float]) -> type:
    """An SFTTrainer whose loss weights each example by its gold strategy's weight."""
    import torch
    import torch.nn.functional as F

    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    by_target = {
        tuple(tokenizer(s.value, add_special_tokens=False)["input_ids"] + eos): w
        for s, w in zip(LABELS, weights, strict=True)
    }

    class WeightedSFTTrainer(base):
        def compute_loss(
            self,
            model: Any,
            inputs: Any,
            return_outputs: bool = False,
            num_items_in_batch: Any = None,
        ) -> Any:
            labels = inputs["labels"]
            forward = {k: v for k, v in inputs.items() if k != "labels"}
            forward["use_cache"] = False
            outputs = model(**forward)
            target = labels[:, 1:]
            logits = outputs.logits[:, :-1].float()
            ce = F.cross_entropy(
                logits.transpose(1, 2), target, ignore_index=-100, reduction="none"
            )
            mask = target != -100
            per_example = (ce * mask).sum(1) / mask.sum(1).clamp(min=1)
            w = torch.tensor(
                [
                    by_target.get(tuple(row[m].tolist()), 1.0)
                    for row, m in zip(target, mask, strict=True)
                ],
                dtype=per_example.dtype,
                device=per_example.device,
            )
            loss = (per_example * w).sum() / w.sum()
            return (loss, outputs) if return_outputs else loss

    return WeightedSFTTrainer


def train_lm(
    config: CounselorTrainConfig,
    train: Sequence[StrategyExample],
    valid: Sequence[StrategyExample],
    *,
    base_path: Path,
    weights: list[float] | None,
    resume_from: Path | None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train the LoRA adapter and save it to ``config.out_dir``; returns training stats."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed
    from transformers.utils import logging as hf_logging
    from trl import SFTConfig, SFTTrainer

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    quiet_datasets()
    out = Path(config.out_dir)
    set_seed(config.seed)  # LoRA's initialisation happens before the Trainer seeds
    tokenizer = AutoTokenizer.from_pretrained(base_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not getattr(tokenizer, "chat_template", None):
        from sweetiechat.errors import UserError

        raise UserError(f"base model {config.base_model}: its tokenizer has no chat template")
    model = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32)
    train_ds = Dataset.from_list([encode_lm_example(tokenizer, e, config.window) for e in train])
    valid_ds = Dataset.from_list([encode_lm_example(tokenizer, e, config.window) for e in valid])
    has_eval = len(valid_ds) > 0
    args = SFTConfig(
        **sft_arguments(
            config,
            has_eval=has_eval,
            warmup_steps=warmup_steps(config, len(train)),
            best_metric=config.best_metric,
            greater_is_better=config.greater_is_better,
        ),
        completion_only_loss=True,
    )
    callbacks = early_stopping(config, has_eval=has_eval)
    if progress:
        callbacks.append(progress_callback(f"training lm counselor ({len(train)} examples)"))
    trainer_cls: type = SFTTrainer
    if weights is not None:
        trainer_cls = _weighted_trainer(SFTTrainer, tokenizer, weights)
    trainer = trainer_cls(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=valid_ds if has_eval else None,
        processing_class=tokenizer,
        peft_config=causal_lora(config),
        callbacks=callbacks,
    )
    timer = step_timer()
    trainer.add_callback(timer)
    quiet_trainer(trainer)
    result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    trainer.model.save_pretrained(str(out))  # the adapter, at the top of the folder
    return {
        "steps": trainer.state.global_step,
        "train_metrics": dict(result.metrics),
        "step_cpu_seconds": timer.cpu,
        "step_wall_seconds": timer.wall,
        "timed_steps": timer.steps,
        "best_checkpoint": trainer.state.best_model_checkpoint,
        "best_metric": trainer.state.best_metric,
        "log_history": trainer.state.log_history,
    }
