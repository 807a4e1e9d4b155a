"""The Hugging Face ``Trainer`` settings every sweetiechat trainer shares.

The counselor's classifier and language-model trainers and the agent trainer all train with
AdamW and a linear schedule, evaluate and checkpoint every ``eval_steps``, keep the best
checkpoint by a metric, stop early after ``patience`` evaluations without progress, and never
report to an external service. They differ in a few arguments each (the metric, gradient
accumulation, the SFT options), which they add to :func:`trainer_arguments`'s result.

Torch and peft are imported inside the functions (this module is imported by the trainers
only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from sweetiechat.trainer.common import CHECKPOINTS

__all__ = ["TrainSettings", "causal_lora", "early_stopping", "sft_arguments", "trainer_arguments"]


class TrainSettings(Protocol):
    """The fields of a training configuration these helpers read (both config models have
    them)."""

    @property
    def out_dir(self) -> str: ...
    @property
    def learning_rate(self) -> float: ...
    @property
    def weight_decay(self) -> float: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def eval_batch_size(self) -> int: ...
    @property
    def epochs(self) -> float: ...
    @property
    def max_steps(self) -> int: ...
    @property
    def eval_steps(self) -> int: ...
    @property
    def save_total_limit(self) -> int: ...
    @property
    def logging_steps(self) -> int: ...
    @property
    def seed(self) -> int: ...
    @property
    def patience(self) -> int: ...


class LoraSettings(TrainSettings, Protocol):
    """A configuration that trains a LoRA adapter on a causal language model."""

    @property
    def lora_r(self) -> int: ...
    @property
    def lora_alpha(self) -> int: ...
    @property
    def lora_dropout(self) -> float: ...
    @property
    def lora_target_modules(self) -> tuple[str, ...]: ...
    @property
    def gradient_checkpointing(self) -> bool: ...


def trainer_arguments(
    config: TrainSettings,
    *,
    has_eval: bool,
    warmup_steps: int,
    best_metric: str = "eval_loss",
    greater_is_better: bool = False,
) -> dict[str, Any]:
    """Keyword arguments for ``TrainingArguments`` (or trl's ``SFTConfig``): checkpoints under
    ``out_dir/checkpoints``, evaluation and saving every ``eval_steps`` when there is
    validation data, the best checkpoint by ``best_metric`` loaded at the end, on the CPU
    when no GPU is there."""
    import torch

    return {
        "output_dir": str(Path(config.out_dir) / CHECKPOINTS),
        "learning_rate": config.learning_rate,
        "weight_decay": config.weight_decay,
        "optim": "adamw_torch",
        "lr_scheduler_type": "linear",
        "warmup_steps": warmup_steps,
        "per_device_train_batch_size": config.batch_size,
        "per_device_eval_batch_size": config.eval_batch_size,
        "num_train_epochs": config.epochs,
        "max_steps": config.max_steps,
        "eval_strategy": "steps" if has_eval else "no",
        "eval_steps": config.eval_steps,
        "save_strategy": "steps",
        "save_steps": config.eval_steps,
        "save_total_limit": config.save_total_limit,
        "load_best_model_at_end": has_eval,
        "metric_for_best_model": best_metric,
        "greater_is_better": greater_is_better,
        "logging_steps": config.logging_steps,
        "seed": config.seed,
        "data_seed": config.seed,
        "report_to": "none",
        "disable_tqdm": True,
        "use_cpu": not torch.cuda.is_available(),
        "dataloader_num_workers": 0,
    }


def sft_arguments(
    config: LoraSettings, *, has_eval: bool, warmup_steps: int, **kwargs: Any
) -> dict[str, Any]:
    """:func:`trainer_arguments` plus trl's ``SFTConfig`` options for examples that are
    tokenised and cut already (no packing, no second cut), and the precision: bf16 only on a
    GPU that has it. trl turns bf16 on by default; on a CPU without bf16 matrix units that
    falls back to a reference kernel about 35x slower than fp32 (measured: 181 s against 5 s
    a step). ``kwargs`` go to :func:`trainer_arguments`."""
    import torch

    gpu = torch.cuda.is_available()
    return trainer_arguments(config, has_eval=has_eval, warmup_steps=warmup_steps, **kwargs) | {
        "max_length": None,
        "packing": False,
        "gradient_checkpointing": config.gradient_checkpointing,
        "bf16": gpu and torch.cuda.is_bf16_supported(),
        "fp16": False,
    }


def early_stopping(config: TrainSettings, *, has_eval: bool) -> list[Any]:
    """``[EarlyStoppingCallback]`` after ``patience`` evaluations without progress, or ``[]``
    without validation data or with ``patience`` 0."""
    from transformers import EarlyStoppingCallback

    if has_eval and config.patience > 0:
        return [EarlyStoppingCallback(early_stopping_patience=config.patience)]
    return []


def causal_lora(config: LoraSettings) -> Any:
    """The ``peft.LoraConfig`` of a causal language model's adapter."""
    from peft import LoraConfig

    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(config.lora_target_modules),
        task_type="CAUSAL_LM",
    )
