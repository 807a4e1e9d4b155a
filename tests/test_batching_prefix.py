"""Prefix key/value reuse (sweetiechat.backends.prefix) in the continuous batcher and the
likelihood chooser: the same greedy tokens with and without it, alone and batched; cached
tensors stay intact; the byte budget holds."""

import pytest

from helpers import HISTORY, SYSTEM, exam_request
from sweetiechat.backends.prefix import PrefixCache
from sweetiechat.errors import ConfigError

torch = pytest.importorskip("torch")


def _entry(n: int, fill: float = 0.0):
    """Per-layer keys/values of ``n`` tokens (2 layers, 1 head, dim 4): 64 bytes a token."""
    k = [torch.full((1, 1, n, 4), fill) for _ in range(2)]
    return k, [t.clone() for t in k]


def test_lookup_finds_the_longest_common_prefix_and_leaves_one_token_to_run():
    cache = PrefixCache(1 << 20, min_length=2)
    cache.add(list(range(10)), *_entry(10, 1.0))
    cache.add([*range(5), 99, 98], *_entry(7, 2.0))
    hit = cache.lookup([*range(8), 50])
    assert hit is not None and hit.length == 8  # the first entry, not the second (5)
    assert hit.keys[0].shape == (1, 1, 8, 4) and float(hit.keys[0][0, 0, 0, 0]) == 1.0
    same = cache.lookup(list(range(10)))  # the whole prompt is cached: its last token still runs
    assert same is not None and same.length == 9
    assert cache.lookup([7, 7, 7]) is None
    assert (cache.lookups, cache.hits, cache.reused_tokens) == (3, 2, 17)
    assert cache.prompt_tokens == 9 + 10 + 3


def test_an_extended_prompt_replaces_the_entry_it_extends():
    cache = PrefixCache(1 << 20, min_length=2)
    cache.add([1, 2, 3], *_entry(3))
    cache.add([1, 2, 9], *_entry(3))
    cache.add([1, 2, 3, 4, 5], *_entry(5))
    assert sorted(len(e.ids) for e in cache.entries.values()) == [3, 5]  # [1, 2, 3] is covered
    assert cache.nbytes == 8 * 64


def test_an_entry_made_from_a_hit_stores_only_its_new_tokens():
    cache = PrefixCache(1 << 20, min_length=2)
    cache.add(list(range(10)), *_entry(10, 1.0))
    longer = [*range(8), 50, 51, 52]
    hit = cache.lookup(longer)
    assert hit is not None and hit.length == 8
    keys, values = _entry(11, 2.0)  # what the model returns: the whole prompt
    cache.add(longer, keys, values, hit)
    assert cache.nbytes == (10 + 3) * 64  # the shared 8 tokens are stored once
    again = cache.lookup([*longer, 53])
    assert again is not None and again.length == 11
    assert again.keys[0][0, 0, :, 0].tolist() == [1.0] * 8 + [2.0] * 3  # old block + new one
    assert len(cache.entries) == 1  # 8 of the first entry's 10 tokens reused: replaced
    assert cache.nbytes == (10 + 3) * 64  # its block lives on in the new entry
    other = [*range(3), 70, 71, 72, 73, 74]
    short = cache.lookup(other)  # 3 of 11 tokens: another prompt, the entry stays
    assert short is not None and not short.covers
    cache.add(other, *_entry(8, 3.0), short)
    assert len(cache.entries) == 2


def test_eviction_keeps_the_byte_budget_and_drops_the_least_recently_used():
    cache = PrefixCache(10 * 64, min_length=2)  # room for 10 tokens
    cache.add([1, 1, 1, 1], *_entry(4))
    cache.add([2, 2, 2, 2], *_entry(4))
    assert cache.lookup([1, 1, 1, 1, 5]) is not None  # [1...] is now the most recent
    cache.add([3, 3, 3, 3], *_entry(4))
    assert cache.nbytes <= cache.max_bytes
    assert sorted(int(e.ids[0]) for e in cache.entries.values()) == [1, 3]
    cache.add(list(range(20)), *_entry(20))  # larger than the whole budget: not kept
    assert cache.nbytes <= cache.max_bytes and len(cache.entries) == 2
    off = PrefixCache(0)
    off.add([1, 2, 3, 4, 5, 6, 7, 8, 9], *_entry(9))
    assert not off.entries and off.lookup([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) is None


def test_the_budget_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("SWEETIECHAT_PREFIX_CACHE_MB", "2")
    assert PrefixCache().max_bytes == 2 * 1024 * 1024
    monkeypatch.setenv("SWEETIECHAT_PREFIX_CACHE_MB", "0")
    assert not PrefixCache().enabled


@pytest.mark.parametrize("value", ["lots", "-5", "nan", "inf", "1e400"])
def test_a_bad_budget_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv("SWEETIECHAT_PREFIX_CACHE_MB", value)
    with pytest.raises(ConfigError, match=r"SWEETIECHAT_PREFIX_CACHE_MB=.*megabytes"):
        PrefixCache()


# -- on the embedded model -------------------------------------------------------------------


@pytest.fixture(scope="module")
def lm():
    from sweetiechat.backends import local

    return local.load_causal_lm()


@pytest.mark.slow
def test_reuse_gives_the_same_greedy_tokens_alone_and_batched(lm):
    from sweetiechat.backends.batching import Batcher

    turns = (1, 3, 5)
    plain = []
    for t in turns:
        r = exam_request(lm, t)
        Batcher(lm, prefix_cache=None).run([r])
        plain.append(r.generated)
    cache = PrefixCache(64 << 20)
    alone = []
    reused = []
    for t in turns:  # one after the other: each turn reuses the previous turn's prompt
        r = exam_request(lm, t)
        b = Batcher(lm, prefix_cache=cache)
        b.run([r])
        alone.append(r.generated)
        reused.append(b.reused_tokens)
    assert alone == plain
    assert reused[0] == 0 and all(n > 20 for n in reused[1:])
    batched = Batcher(lm, prefix_cache=cache, max_batch_size=4)
    requests = [exam_request(lm, t) for t in (5, 2, 4)]  # turns 2 and 4: new, partly cached
    batched.run(requests)
    expected = []
    for t in (5, 2, 4):
        r = exam_request(lm, t)
        Batcher(lm, prefix_cache=None).run([r])
        expected.append(r.generated)
    assert [r.generated for r in requests] == expected
    assert batched.prefix_hits == 3 and batched.prefill_tokens < batched.reused_tokens
    assert all(r.generated for r in requests)


@pytest.mark.slow
def test_a_cached_entry_is_not_changed_by_the_requests_that_reuse_it(lm):
    from sweetiechat.backends.batching import Batcher

    cache = PrefixCache(64 << 20)
    Batcher(lm, prefix_cache=cache).run([exam_request(lm, 3, max_new=4)])
    (entry,) = cache.entries.values()
    stored = [t for seg in entry.segments for t in (*seg.keys, *seg.values)]
    before = [t.clone() for t in stored]
    batcher = Batcher(lm, prefix_cache=cache)
    requests = [exam_request(lm, 2, max_new=6), exam_request(lm, 4, max_new=6)]
    batcher.run(requests)  # both start inside the entry and decode on top of it
    assert batcher.prefix_hits == 2
    assert all(torch.equal(a, b) for a, b in zip(before, stored, strict=True))


@pytest.mark.slow
def test_the_likelihood_chooser_reuses_prefixes_and_scores_the_same(lm):
    from sweetiechat.backends.scoring import LikelihoodChooser

    chooser = LikelihoodChooser()
    options = ["Question", "Reflection of feelings", "Self-disclosure"]
    first = [("system", SYSTEM), ("user", "\n".join(HISTORY[:3]))]
    later = [("system", SYSTEM), ("user", "\n".join(HISTORY))]
    saved, lm.prefix = lm.prefix, None
    try:
        plain = chooser.log_likelihoods(later, options)
    finally:
        lm.prefix = saved
    lm.prefix = PrefixCache(64 << 20)
    try:
        chooser.log_likelihoods(first, options)
        reused = chooser.log_likelihoods(later, options)
        assert lm.prefix.hits == 1 and lm.prefix.reused_tokens > 20
    finally:
        lm.prefix = saved
    assert reused.keys() == plain.keys()
    assert all(abs(reused[k] - plain[k]) < 1e-3 for k in plain)


# -- the batch's key/value buffers -----------------------------------------------------------


def test_batch_cache_rows_join_leave_and_grow_in_place():
    from sweetiechat.backends.batch_cache import SPARE, BatchCache

    def row(length: int, fill: float):
        return [torch.full((1, 1, length, 2), fill)], [torch.full((1, 1, length, 2), -fill)]

    def contents():  # per row: the key values of its unmasked columns
        live = slice(kv.start, kv.end)
        return [
            kv.keys[0][r, 0, live, 0][kv.mask_buffer[r, live].bool()].tolist()
            for r in range(kv.rows)
        ]

    kv = BatchCache(max_rows=4)
    kv.add(*row(3, 1.0))
    kv.add(*row(5, 2.0))  # longer than the window: it widens to the left
    assert kv.mask.tolist() == [[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]]
    kv.add(*row(1, 3.0))
    assert contents() == [[1.0] * 3, [2.0] * 5, [3.0]]
    for step in range(SPARE + 5):  # past the spare columns: the buffers grow
        cache, mask = kv.step()
        new = torch.full((kv.rows, 1, 1, 2), 9.0)
        cache.layers[0].update(new, -new)
        assert mask.shape == (3, 5 + step + 1) and bool(mask[:, -1].all())
        kv.advance()
    assert kv.reallocations >= 2  # the first allocation and at least one growth
    extra = [9.0] * (SPARE + 5)
    assert contents() == [[1.0] * 3 + extra, [2.0] * 5 + extra, [3.0, *extra]]
    moves = kv.keep([0, 2])  # row 2 fills row 1's place
    assert moves == [(1, 2)] and contents() == [[1.0] * 3 + extra, [3.0, *extra]]
    assert kv.end - kv.start == 3 + len(extra)  # the columns only row 1 used are dropped
    assert kv.keep([]) == [] and kv.mask is None


@pytest.mark.slow
def test_long_answers_and_long_late_prompts_decode_as_if_alone(lm):
    from sweetiechat.backends.batch_cache import SPARE
    from sweetiechat.backends.batching import Batcher

    def alone(turns, max_new):
        r = exam_request(lm, turns, max_new)
        Batcher(lm, prefix_cache=None).run([r])
        return r.generated

    batcher = Batcher(lm, prefix_cache=None)
    batcher.eos = set()
    short_prompt = exam_request(lm, 1, max_new=2 * SPARE + 10)
    short_prompt.stop = ()  # decodes past the spare columns, into reallocations
    batcher.submit(short_prompt)
    for _ in range(3):
        batcher.step()
    late = [exam_request(lm, 5, max_new=12), exam_request(lm, 3, max_new=3)]
    for r in late:  # the first is longer than the window: it widens to the left
        batcher.submit(r)
    while batcher.busy:
        batcher.step()
    expected = Batcher(lm, prefix_cache=None)
    expected.eos = set()
    solo = exam_request(lm, 1, max_new=2 * SPARE + 10)
    solo.stop = ()
    expected.run([solo])
    assert short_prompt.generated == solo.generated and len(solo.generated) == 2 * SPARE + 10
    assert [r.generated for r in late] == [alone(5, 12), alone(3, 3)]
    assert batcher.kv.reallocations >= 2 and batcher.mask is None
