"""Near-duplicates by MinHash LSH: planted copies are found, distinct dialogues are not, and
the result agrees with the exact all-pairs method."""

from __future__ import annotations

import random

import pytest

from sweetiechat.io import read_dialogues
from sweetiechat.quality.dedup import (
    NearDuplicateIndex,
    all_pairs_duplicates,
    dialogue_text,
    jaccard,
    shingles,
)


def perturb(text: str, rng: random.Random, rate: float) -> str:
    """Replace about ``rate`` of the words with other words."""
    words = text.split()
    for i in range(len(words)):
        if rng.random() < rate:
            words[i] = rng.choice(["really", "so", "very", "quite", "maybe"])
    return " ".join(words)


@pytest.fixture(scope="module")
def esconv_texts() -> list[str]:
    from conftest import ESCONV_DIR

    if not (ESCONV_DIR / "valid.json").exists():
        pytest.skip(f"ESConv is not at {ESCONV_DIR}")
    return [dialogue_text(d) for d in read_dialogues(ESCONV_DIR / "valid.json")][:150]


def test_shingles_and_jaccard():
    assert shingles("I lost my job today", 3) == {"i lost my", "lost my job", "my job today"}
    assert shingles("Hi there", 3) == {"hi there"}
    assert jaccard({"a", "b"}, {"b", "c"}) == pytest.approx(1 / 3)


def test_planted_near_duplicates_are_found_and_originals_kept(esconv_texts):
    rng = random.Random(3)
    texts = list(esconv_texts)
    planted = {}
    for i in range(0, 100, 5):  # 20 copies with 2% of the words changed (Jaccard ~0.9)
        planted[len(texts)] = i
        texts.append(perturb(texts[i], rng, 0.02))
    index = NearDuplicateIndex(threshold=0.7)
    found = {k: index.add(str(k), t) for k, t in enumerate(texts)}
    dups = {k: int(v[0]) for k, v in found.items() if v is not None}
    assert dups == planted  # every copy points at its original, nothing else is flagged
    assert len(index) == len(esconv_texts)


def test_light_edits_are_kept_heavy_edits_are_not_duplicates(esconv_texts):
    rng = random.Random(5)
    index = NearDuplicateIndex(threshold=0.8)
    index.add("original", esconv_texts[0])
    assert index.add("copy", perturb(esconv_texts[0], rng, 0.02)) is not None
    rewritten = perturb(esconv_texts[0], rng, 0.5)  # half the words changed: about 0.1 Jaccard
    assert jaccard(shingles(rewritten), shingles(esconv_texts[0])) < 0.3
    assert index.add("rewritten", rewritten) is None


def test_agrees_with_all_pairs(esconv_texts):
    rng = random.Random(11)
    texts = list(esconv_texts[:60])
    texts += [perturb(t, rng, rng.choice([0.01, 0.05, 0.1, 0.4])) for t in texts[:40]]
    exact = all_pairs_duplicates(texts, threshold=0.6)
    index = NearDuplicateIndex(threshold=0.6, num_perm=128)
    lsh = [index.add(str(k), t) for k, t in enumerate(texts)]
    exact_dups = {k for k, m in enumerate(exact) if m is not None}
    lsh_dups = {k for k, m in enumerate(lsh) if m is not None}
    assert len(exact_dups) >= 20 and len(exact_dups & lsh_dups) >= 20
    # MinHash estimates: only a pair close to the threshold may fall on the other side
    for k in exact_dups ^ lsh_dups:
        true = max(jaccard(shingles(texts[k]), shingles(texts[j])) for j in range(k))
        assert abs(true - 0.6) < 0.1, (k, true)


def test_threshold_is_checked():
    with pytest.raises(ValueError, match="threshold"):
        NearDuplicateIndex(threshold=0.0)
    exact = NearDuplicateIndex(threshold=1.0)  # too few LSH bands for datasketch: still works
    assert exact.add("a", "one two three four") is None
    assert exact.add("b", "one two three four") == ("a", 1.0)
    assert exact.add("c", "one two three five") is None


def test_compact_storage_finds_what_datasketch_storage_finds(esconv_texts):
    rng = random.Random(2)
    texts = list(esconv_texts[:80])
    texts += [perturb(t, rng, rng.choice([0.02, 0.1, 0.3])) for t in texts[:40]]
    results = []
    for storage in ("compact", "datasketch"):
        index = NearDuplicateIndex(threshold=0.7, storage=storage)  # type: ignore[arg-type]
        results.append([index.add(str(k), t) for k, t in enumerate(texts)])
    assert results[0] == results[1]
    assert sum(r is not None for r in results[0]) >= 10
