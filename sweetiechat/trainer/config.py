"""The counselor's training settings: one typed, documented config per run.

Like trl's ``SFTConfig``, every setting is a field with its default; the defaults are the
recipe of Ye et al. (COLING 2025; see docs/training.md): AdamW, learning rate 3e-5 with a
linear warm-up over the first 1% of steps, batch 2, 5 epochs, evaluation on the validation
split, early stopping after 7 evaluations without improvement, the best checkpoint kept.

>>> c = CounselorTrainConfig(kind="classifier", data_dir="data", out_dir="out")
>>> (c.learning_rate, c.batch_size, c.epochs, c.warmup_ratio, c.patience)
(3e-05, 2, 5.0, 0.01, 7)
>>> c.best_metric
'eval_macro_f1'
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sweetiechat.agents.classifier import ClassifierInput

__all__ = ["ClassWeighting", "ClassifierInput", "CounselorKind", "CounselorTrainConfig"]

CounselorKind = Literal["lm", "classifier"]
ClassWeighting = Literal["none", "balanced", "sqrt"]


class CounselorTrainConfig(BaseModel):
    """Everything that decides a counselor training run; saved as ``training_config.json``."""

    model_config = ConfigDict(extra="forbid")

    kind: CounselorKind
    """``"lm"`` (causal LM + LoRA, scored by likelihood) or ``"classifier"`` (encoder + head)."""
    data_dir: str
    """Folder with ``train``, ``valid`` and ``test`` (``.json`` ESConv splits or ``.jsonl``)."""
    out_dir: str
    """Output folder: the adapter or model, this config, the label map, metrics."""
    base_model: str | None = None
    """Local model folder; default ``"embedded"`` (SmolLM2) for ``lm``, MiniLM for
    ``classifier``."""
    limit: int | None = Field(default=None, ge=1)
    """Only the first N dialogues of each split."""
    seed: int = 42
    """Seed of the head's initialisation, LoRA's initialisation and the data order."""

    # optimisation (the paper's recipe)
    learning_rate: float = Field(default=3e-5, gt=0)
    """AdamW's peak learning rate."""
    weight_decay: float = Field(default=0.0, ge=0)
    """AdamW's weight decay."""
    warmup_ratio: float = Field(default=0.01, ge=0, lt=1)
    """Share of the steps with a linear warm-up; then the rate decays linearly to 0."""
    batch_size: int = Field(default=2, ge=1)
    """Training examples per step."""
    eval_batch_size: int = Field(default=8, ge=1)
    """Examples per forward pass when evaluating."""
    epochs: float = Field(default=5.0, gt=0)
    """Passes over the training split."""
    max_steps: int = -1
    """Stop after this many steps (overrides ``epochs`` when positive)."""
    class_weights: ClassWeighting = "none"
    """Weight each example's loss against frequent strategies: ``"balanced"`` (n / (8 n_c)),
    ``"sqrt"`` (its square root) or ``"none"``."""

    # evaluation, early stopping and checkpoints
    eval_steps: int = Field(default=500, ge=1)
    """Evaluate on the validation split (and save a checkpoint) every N steps."""
    patience: int = Field(default=7, ge=0)
    """Stop after this many evaluations without improvement (0: never stop early)."""
    metric: (
        Literal[
            "loss",
            "macro_f1",
            "accuracy",
            "weighted_f1",
            "eval_loss",
            "eval_macro_f1",
            "eval_accuracy",
            "eval_weighted_f1",
        ]
        | None
    ) = None
    """What "improvement" means: ``eval_loss`` (lm default, and the only one for lm) or
    ``eval_macro_f1`` (classifier default; also ``eval_accuracy``, ``eval_weighted_f1``)."""

    @model_validator(mode="after")
    def _metric_fits_kind(self) -> CounselorTrainConfig:
        if self.kind == "lm" and self.metric and not self.metric.endswith("loss"):
            raise ValueError(
                f"metric {self.metric!r}: the lm kind is selected on validation loss; "
                "use --metric loss (F1 and accuracy are for --kind classifier)"
            )
        return self

    save_total_limit: int = Field(default=2, ge=1)
    """Checkpoints kept under ``checkpoints/`` (the best one is always kept)."""
    logging_steps: int = Field(default=10, ge=1)
    """Log the training loss every N steps."""
    final_eval: bool = True
    """At the end, run the best model on valid and test and write ``metrics.json``."""

    # lm
    window: int = Field(default=6, ge=1)
    """lm: utterances of history in the counselor prompt (the same at inference)."""
    lora_r: int = Field(default=8, ge=1)
    """lm: LoRA rank."""
    lora_alpha: int = Field(default=16, ge=1)
    """lm: LoRA scaling numerator."""
    lora_dropout: float = Field(default=0.05, ge=0, lt=1)
    """lm: dropout on the LoRA input."""
    lora_target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    """lm: the projections LoRA adapts (query, key, value, output)."""
    gradient_checkpointing: bool = False
    """lm: trade compute for memory (useful for an 8B model on a GPU)."""

    # classifier
    input: ClassifierInput = Field(default_factory=ClassifierInput)
    """classifier: how the history becomes the input text."""

    @property
    def best_metric(self) -> str:
        """The metric early stopping and best-checkpoint selection use."""
        if self.metric:
            return self.metric if self.metric.startswith("eval_") else f"eval_{self.metric}"
        return "eval_loss" if self.kind == "lm" else "eval_macro_f1"

    @property
    def greater_is_better(self) -> bool:
        """True for scores, False for losses."""
        return not self.best_metric.endswith("loss")
