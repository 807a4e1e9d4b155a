"""Pluggable tokenizers for statistics and metrics.

``llama3`` is the Llama-3 BPE tokenizer from the ``quicktok-v1`` package, the tokenizer the
original evaluation used. ``word`` is a documented fallback: words and punctuation marks,
``re.findall(r"\\w+(?:'\\w+)?|[^\\w\\s]", text)``. ``whitespace`` splits on whitespace.

>>> get_tokenizer("word").tokenize("I'm fine, thanks.")
["I'm", 'fine', ',', 'thanks', '.']
"""

from __future__ import annotations

import re
from functools import cache
from typing import Protocol

from sweetiechat.errors import UserError

__all__ = ["TOKENIZERS", "Tokenizer", "UnknownTokenizerError", "default_tokenizer", "get_tokenizer"]


class UnknownTokenizerError(UserError, ValueError):
    """A tokenizer name that is not one of :data:`TOKENIZERS`."""


class Tokenizer(Protocol):
    """Anything with a ``name`` and a ``tokenize`` method works."""

    name: str

    def tokenize(self, text: str) -> list[str]:
        """Split ``text`` into token strings."""
        ...


class WhitespaceTokenizer:
    """Split on runs of whitespace."""

    name = "whitespace"

    def tokenize(self, text: str) -> list[str]:
        return text.split()


class WordTokenizer:
    """Words (with an inner apostrophe) and single punctuation marks."""

    name = "word"
    _pattern = re.compile(r"\w+(?:'\w+)?|[^\w\s]")

    def tokenize(self, text: str) -> list[str]:
        return self._pattern.findall(text)


class Llama3Tokenizer:
    """The Llama-3 BPE tokenizer (``quicktok-v1``); tokens are returned as stripped strings."""

    name = "llama3"

    def __init__(self) -> None:
        try:
            import quicktok
        except ImportError as err:
            raise ImportError(
                "the llama3 tokenizer needs quicktok-v1: pip install 'sweetiechat[metrics]'"
            ) from err
        self._enc = quicktok.get_encoding("llama3")

    def tokenize(self, text: str) -> list[str]:
        ids = self._enc.encode_ordinary(text)
        pieces = [self._enc.decode_single_token_bytes(i).decode("utf-8", "replace") for i in ids]
        return [p.strip() or p for p in pieces]

    def count(self, text: str) -> int:
        """Number of tokens, without building strings."""
        return len(self._enc.encode_ordinary(text))

    def encode(self, text: str) -> list[int]:
        """Token ids, without a BOS token (``" the"`` and ``"the"`` stay different)."""
        return list(self._enc.encode_ordinary(text))


TOKENIZERS = ("llama3", "word", "whitespace")


@cache
def get_tokenizer(name: str) -> Tokenizer:
    """Return the tokenizer called ``name`` (one of :data:`TOKENIZERS`)."""
    if name == "llama3":
        return Llama3Tokenizer()
    if name == "word":
        return WordTokenizer()
    if name == "whitespace":
        return WhitespaceTokenizer()
    raise UnknownTokenizerError(
        f"unknown tokenizer {name!r}; choose one of: {', '.join(TOKENIZERS)}"
    )


def default_tokenizer() -> Tokenizer:
    """Llama-3 when ``quicktok-v1`` is installed, otherwise the word tokenizer."""
    try:
        return get_tokenizer("llama3")
    except ImportError:
        return get_tokenizer("word")


def count_tokens(tokenizer: Tokenizer, text: str) -> int:
    """Token count of ``text``, using a fast path where the tokenizer has one."""
    count = getattr(tokenizer, "count", None)
    return int(count(text)) if count is not None else len(tokenizer.tokenize(text))
