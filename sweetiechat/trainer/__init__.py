"""Training: the strategy counselor (``lm``: a causal LM with LoRA; ``classifier``: an encoder
with a classification head). See docs/training.md.

torch, transformers, peft and trl are imported inside the functions that need them, so this
package stays cheap to import. Needs the ``train`` extra: ``pip install 'sweetiechat[train]'``.
"""

from sweetiechat.trainer.config import ClassifierInput, CounselorTrainConfig
from sweetiechat.trainer.counselor import TrainResult, train_counselor
from sweetiechat.trainer.dataset import (
    StrategyExample,
    load_splits,
    load_strategy_examples,
    strategy_examples,
)

__all__ = [
    "ClassifierInput",
    "CounselorTrainConfig",
    "StrategyExample",
    "TrainResult",
    "load_splits",
    "load_strategy_examples",
    "strategy_examples",
    "train_counselor",
]
