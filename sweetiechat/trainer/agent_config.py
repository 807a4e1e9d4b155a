"""The agent's fine-tuning settings: one typed, documented config per run.

Like trl's ``SFTConfig``, every setting is a field with its default. The defaults are the
recipe of Ye et al. (COLING 2025; see docs/method.md): LoRA rank 8 on the query, key, value
and output projections, AdamW, learning rate 3e-5 with a linear warm-up over the first 1% of
steps, batch 2, 5 epochs, evaluation on a validation split, early stopping after 7
evaluations without improvement, the best checkpoint kept.

>>> c = AgentTrainConfig(data=["train.json"], out_dir="out")
>>> (c.lora_r, c.learning_rate, c.warmup_ratio, c.batch_size, c.epochs, c.patience)
(8, 3e-05, 0.01, 2, 5.0, 7)
>>> c.lora_target_modules
('q_proj', 'k_proj', 'v_proj', 'o_proj')
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from sweetiechat.agents.tuned import AgentRole

__all__ = ["AgentTrainConfig"]


class AgentTrainConfig(BaseModel):
    """Everything that decides an agent training run; saved as ``training_config.json``."""

    model_config = ConfigDict(extra="forbid")

    data: list[str] = Field(min_length=1)
    """Training files: generated JSON lines, ESConv ``.json`` splits, or several mixed."""
    valid_data: list[str] = Field(default_factory=list)
    """Validation files; without them ``valid_fraction`` of the training dialogues is held
    out."""
    valid_fraction: float = Field(default=0.05, ge=0, lt=1)
    """Share of the training dialogues held out for validation when no ``valid_data``."""
    out_dir: str
    """Output folder: the LoRA adapter, ``sweetiechat_agent.json``, this config, metrics."""
    base_model: str = "embedded"
    """Local model folder, or ``"embedded"`` (SmolLM2-135M-Instruct)."""
    role: AgentRole = "supporter"
    """The side the agent learns to speak: ``"supporter"`` or ``"seeker"`` (role-reversed)."""
    with_strategy: bool = False
    """Supporter targets start with their strategy tag: ``[Question] What happened?``."""
    system_prompt: str | None = None
    """The system prompt (default: the role's built-in one, see ``agents/tuned.py``)."""
    max_length: int = Field(default=1024, ge=32)
    """Tokens per example; a longer history is cut from the left (counted in metrics)."""
    limit: int | None = Field(default=None, ge=1)
    """Only the first N dialogues of each training file."""
    valid_limit: int | None = Field(default=None, ge=1)
    """Only the first N validation dialogues (validation is slow on a CPU)."""
    seed: int = 42
    """Seed of LoRA's initialisation, the held-out split and the data order."""
    seeds: int = Field(default=1, ge=1)
    """Train this many seeds (``seed``, ``seed + 1``, ...), each into ``OUT/seed-N/``."""

    # optimisation (the paper's recipe)
    learning_rate: float = Field(default=3e-5, gt=0)
    """AdamW's peak learning rate."""
    weight_decay: float = Field(default=0.0, ge=0)
    """AdamW's weight decay."""
    warmup_ratio: float = Field(default=0.01, ge=0, lt=1)
    """Share of the steps with a linear warm-up; then the rate decays linearly to 0."""
    batch_size: int = Field(default=2, ge=1)
    """Training examples per step and device."""
    eval_batch_size: int = Field(default=2, ge=1)
    """Examples per forward pass when evaluating."""
    gradient_accumulation_steps: int = Field(default=1, ge=1)
    """Micro-batches per optimizer step."""
    epochs: float = Field(default=5.0, gt=0)
    """Passes over the training examples."""
    max_steps: int = -1
    """Stop after this many steps (overrides ``epochs`` when positive)."""
    max_minutes: float | None = Field(default=None, gt=0)
    """Stop after this many minutes of training (evaluating and saving a checkpoint first),
    for a run bounded by time on a slow machine."""

    # evaluation, early stopping and checkpoints
    eval_steps: int = Field(default=500, ge=1)
    """Evaluate on the validation split (and save a checkpoint) every N steps."""
    patience: int = Field(default=7, ge=0)
    """Stop after this many evaluations without improvement of the validation loss (0: never
    stop early)."""
    save_total_limit: int = Field(default=2, ge=1)
    """Checkpoints kept under ``checkpoints/`` (the best one is always kept)."""
    logging_steps: int = Field(default=10, ge=1)
    """Log the training loss every N steps."""

    # LoRA
    lora_r: int = Field(default=8, ge=1)
    """LoRA rank."""
    lora_alpha: int = Field(default=16, ge=1)
    """LoRA scaling numerator."""
    lora_dropout: float = Field(default=0.05, ge=0, lt=1)
    """Dropout on the LoRA input."""
    lora_target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    """The projections LoRA adapts (query, key, value, output)."""
    gradient_checkpointing: bool = False
    """Trade compute for memory (useful for an 8B model on a GPU)."""

    # the counselor trainer's warm-up helper reads these names
    @property
    def best_metric(self) -> str:
        """The metric early stopping and best-checkpoint selection use."""
        return "eval_loss"
