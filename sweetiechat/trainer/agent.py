"""Fine-tune an emotional-support agent (supervised, LoRA, trl's ``SFTTrainer``):
:func:`train_agent`.

Output folder (one seed; with ``seeds > 1`` one such folder per seed, ``OUT/seed-N/``, and
``OUT/seeds.json`` with the runs' mean ± std)::

    OUT/
      adapter_config.json, adapter_model.safetensors   a standard peft LoRA adapter
      sweetiechat_agent.json   base model + fingerprint, role, system prompt, max length
      training_config.json     every setting of the run (AgentTrainConfig)
      metrics.json             data counts (history cuts), speed, best checkpoint, losses
      checkpoints/checkpoint-N/                         (for --resume)

Several processes (GPUs or machines) train through ``accelerate launch``: every process
runs the same command, the Trainer shards the batches, and the main process writes the
folder (see docs/agent.md).

>>> config = AgentTrainConfig(data=["train.json"], out_dir="runs/agent")
>>> result = train_agent(config)                                    # doctest: +SKIP
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweetiechat.agents.trained import base_fingerprint, resolve_base
from sweetiechat.agents.tuned import AGENT_FILE, AgentInfo, read_agent_info
from sweetiechat.errors import UserError
from sweetiechat.trainer.agent_config import AgentTrainConfig
from sweetiechat.trainer.agent_data import (
    EncodeStats,
    encode_dialogues,
    load_dialogues,
    split_valid,
    with_labels,
)
from sweetiechat.trainer.arguments import causal_lora, early_stopping, sft_arguments
from sweetiechat.trainer.common import (
    Timer,
    check_out_dir,
    last_checkpoint,
    progress_callback,
    quiet_datasets,
    quiet_trainer,
    require_train,
    step_timer,
    write_json,
)

__all__ = ["AgentTrainResult", "train_agent"]


@dataclass(frozen=True)
class AgentTrainResult:
    """What :func:`train_agent` did."""

    out_dirs: list[Path]
    """The adapter folders, one per seed."""
    metrics: list[dict[str, Any]]
    """Each folder's ``metrics.json``."""


def _distributed() -> Any:
    """accelerate's process state: starts the process group under ``accelerate launch`` or
    ``torchrun`` (gloo on CPUs, as the Trainer's own state; nccl on GPUs)."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def _prepare(config: AgentTrainConfig, info: AgentInfo, resume: bool) -> Path | None:
    """Check or create the output folder; the checkpoint to resume from, if any."""
    out = Path(config.out_dir)
    if check_out_dir(out, AGENT_FILE, "a trained agent", resume):
        old = read_agent_info(out)
        if old.role != info.role:
            raise UserError(f"{out} holds a {old.role} agent; resume it with --role {old.role}")
        if old.base_fingerprint != info.base_fingerprint:
            raise UserError(
                f"{out} was trained from base model {old.base_model}, not {info.base_model}; "
                f"resume with --base-model {old.base_model}"
            )
    checkpoint = last_checkpoint(out) if resume else None
    if resume and checkpoint is None:
        raise UserError(f"{out}: no checkpoint to resume from (checkpoints/ is empty)")
    return checkpoint


def _write_folder(out: Path, config: AgentTrainConfig, info: AgentInfo) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / AGENT_FILE, info.model_dump(mode="json"))
    write_json(out / "training_config.json", config.model_dump(mode="json"))


def train_agent(
    config: AgentTrainConfig, *, resume: bool = False, progress: bool = True
) -> AgentTrainResult:
    """Train the agent as ``config`` says (every seed) and write its output folder(s).

    Raises:
        UserError: empty data, no turns of the agent's role, a missing base model, or an
            output folder that holds another run.
    """
    require_train()
    if config.seeds == 1:
        out, metrics = _train_one(config, resume=resume, progress=progress)
        return AgentTrainResult([out], [metrics])
    if _distributed().is_main_process:  # the run's settings, for --resume
        Path(config.out_dir).mkdir(parents=True, exist_ok=True)
        write_json(Path(config.out_dir) / "training_config.json", config.model_dump(mode="json"))
    outs, all_metrics = [], []
    for k in range(config.seeds):
        seed = config.seed + k
        sub = config.model_copy(
            update={"seed": seed, "seeds": 1, "out_dir": str(Path(config.out_dir) / f"seed-{seed}")}
        )
        sub_resume = resume and (Path(sub.out_dir) / AGENT_FILE).is_file()
        out, metrics = _train_one(sub, resume=sub_resume, progress=progress)
        outs.append(out)
        all_metrics.append(metrics)
    if _distributed().is_main_process:
        write_json(Path(config.out_dir) / "seeds.json", _seed_summary(outs, all_metrics))
    return AgentTrainResult(outs, all_metrics)


def _seed_summary(outs: list[Path], metrics: list[dict[str, Any]]) -> dict[str, Any]:
    losses = [m["train"]["best_eval_loss"] for m in metrics if m["train"]["best_eval_loss"]]
    return {
        "folders": [str(o) for o in outs],
        "best_eval_loss": {
            "values": losses,
            "mean": statistics.fmean(losses) if losses else None,
            "std": statistics.stdev(losses) if len(losses) > 1 else None,
        },
    }


def _train_one(
    config: AgentTrainConfig, *, resume: bool, progress: bool
) -> tuple[Path, dict[str, Any]]:
    import torch
    from transformers import AutoTokenizer

    state = _distributed()
    base_path = resolve_base(config.base_model)
    info = AgentInfo(
        role=config.role,
        base_model=config.base_model,
        base_fingerprint=base_fingerprint(config.base_model),
        with_strategy=config.with_strategy,
        max_length=config.max_length,
        seed=config.seed,
        **({"system_prompt": config.system_prompt} if config.system_prompt else {}),
    )
    dialogues = load_dialogues(config.data, limit=config.limit, role=config.role)
    if config.valid_data:
        train_d = dialogues
        valid_d = load_dialogues(config.valid_data, limit=config.valid_limit, role=config.role)
    else:
        train_d, valid_d = split_valid(dialogues, config.valid_fraction, config.seed)
        valid_d = valid_d[: config.valid_limit]
    out = Path(config.out_dir)
    resume_from = _prepare(config, info, resume)  # every process checks; only one writes
    tokenizer = AutoTokenizer.from_pretrained(base_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not getattr(tokenizer, "chat_template", None):
        raise UserError(f"base model {config.base_model}: its tokenizer has no chat template")
    options: dict[str, Any] = {
        "max_length": config.max_length,
        "role": config.role,
        "with_strategy": config.with_strategy,
        "system": config.system_prompt,
    }
    train_x, train_stats = encode_dialogues(tokenizer, train_d, **options)
    valid_x, valid_stats = encode_dialogues(tokenizer, valid_d, **options)
    if not train_x:
        raise UserError(f"{', '.join(config.data)}: no {config.role} turns left to train on")
    if state.is_main_process:
        _write_folder(out, config, info)
    state.wait_for_everyone()
    timer = Timer()
    stats = _fit(
        config, tokenizer, base_path, train_x, valid_x,
        resume_from=resume_from, progress=progress and state.is_main_process,
        world=state.num_processes,
    )  # fmt: skip
    timed = stats["timed_steps"]
    wall = stats["step_wall_seconds"]
    tokens = stats["tokens_seen"]
    steps_now = stats["steps"] - (int(resume_from.name.split("-")[-1]) if resume_from else 0)
    metrics: dict[str, Any] = {
        "train": {
            "role": config.role,
            "base_model": config.base_model,
            "dialogues": {"train": len(train_d), "valid": len(valid_d)},
            "examples": {"train": len(train_x), "valid": len(valid_x)},
            "encoding": {"train": train_stats.to_dict(), "valid": valid_stats.to_dict()},
            "steps": stats["steps"],
            "steps_this_run": steps_now,
            "processes": state.num_processes,
            "device": "cuda" if torch.cuda.is_available() else "cpu",
            "seconds": round(timer.seconds, 3),
            # inside optimisation steps only (no evaluation, saving or loading)
            "seconds_per_step": round(wall / timed, 4) if timed else None,
            "cpu_seconds_per_step": round(stats["step_cpu_seconds"] / timed, 4) if timed else None,
            "tokens_seen": tokens,
            "tokens_per_second": (
                round(tokens / wall, 2) if wall > 0 and tokens and not resume_from else None
            ),
            "batch_size": config.batch_size,
            "best_checkpoint": stats["best_checkpoint"],
            "best_eval_loss": stats["best_metric"],
            "resumed_from": str(resume_from) if resume_from else None,
        },
        "log_history": stats["log_history"],
    }
    if state.is_main_process:
        info = info.model_copy(update={"trained_steps": stats["steps"]})
        write_json(out / AGENT_FILE, info.model_dump(mode="json"))
        write_json(out / "metrics.json", metrics)
    state.wait_for_everyone()
    return out, metrics


def _fit(
    config: AgentTrainConfig,
    tokenizer: Any,
    base_path: Path,
    train_x: list[dict[str, list[int]]],
    valid_x: list[dict[str, list[int]]],
    *,
    resume_from: Path | None,
    progress: bool,
    world: int,
) -> dict[str, Any]:
    """Run trl's SFTTrainer with a LoRA adapter; save the adapter at the folder's top."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, set_seed
    from transformers.utils import logging as hf_logging
    from trl import SFTConfig, SFTTrainer

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    quiet_datasets()
    out = Path(config.out_dir)
    set_seed(config.seed)  # LoRA's initialisation happens before the Trainer seeds
    model = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32)
    has_eval = bool(valid_x)
    per_step = config.batch_size * config.gradient_accumulation_steps * world
    total = (
        config.max_steps
        if config.max_steps > 0
        else math.ceil(config.epochs * math.ceil(len(train_x) / per_step))
    )
    args = SFTConfig(
        **sft_arguments(
            config, has_eval=has_eval, warmup_steps=math.ceil(config.warmup_ratio * total)
        ),
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        completion_only_loss=False,  # the labels carry the mask (-100 off the agent's turns)
        include_num_input_tokens_seen="non_padding",
        ddp_find_unused_parameters=False if world > 1 else None,
    )
    callbacks = early_stopping(config, has_eval=has_eval)
    if config.max_minutes:
        callbacks.append(_time_limit(config.max_minutes * 60))
    if progress:
        callbacks.append(
            progress_callback(f"training {config.role} agent ({len(train_x)} examples)")
        )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list([with_labels(x) for x in train_x]),
        eval_dataset=Dataset.from_list([with_labels(x) for x in valid_x]) if has_eval else None,
        processing_class=tokenizer,
        peft_config=causal_lora(config),
        callbacks=callbacks,
    )
    timer = step_timer()
    trainer.add_callback(timer)
    quiet_trainer(trainer)
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    if trainer.is_world_process_zero():
        trainer.model.save_pretrained(str(out))  # type: ignore[union-attr,operator]  # the adapter, at the top of the folder
    return {
        "steps": trainer.state.global_step,
        "step_cpu_seconds": timer.cpu,
        "step_wall_seconds": timer.wall,
        "timed_steps": timer.steps,
        "tokens_seen": int(getattr(trainer.state, "num_input_tokens_seen", 0) or 0),
        "best_checkpoint": trainer.state.best_model_checkpoint,
        "best_metric": trainer.state.best_metric,
        "log_history": trainer.state.log_history,
    }


def _time_limit(seconds: float) -> Any:
    """A callback that ends training after ``seconds``, evaluating and saving first (so the
    best checkpoint is chosen among what was trained)."""
    import time

    from transformers import TrainerCallback

    class TimeLimit(TrainerCallback):
        def __init__(self) -> None:
            self.start = time.monotonic()

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if time.monotonic() - self.start > seconds:
                control.should_training_stop = True
                control.should_evaluate = args.eval_strategy != "no"
                control.should_save = True

    return TimeLimit()


def encode_stats_line(stats: EncodeStats) -> str:
    """One line for the terminal: examples, targets and history cuts."""
    return (
        f"{stats.dialogues} dialogues -> {stats.examples} examples, {stats.targets} targets; "
        f"history cut in {stats.cut_examples} examples ({stats.cut_turns} turns left out), "
        f"{stats.truncated_targets} over-long targets cut"
    )
