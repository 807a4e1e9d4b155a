"""Prefill in a thread beside the decoding (sweetiechat.backends.batching, .threads): the same
greedy tokens as a batcher that prefills between steps, requests that arrive while others
decode, errors that reach the caller, and a prefill thread that ends when idle."""

import threading
import time

import pytest

from helpers import exam_request
from sweetiechat.backends import batching, threads

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def lm():
    from sweetiechat.backends import local

    return local.load_causal_lm()


def _alone(lm, turns: int) -> list[int]:
    r = exam_request(lm, turns)
    batching.Batcher(lm, prefix_cache=None, overlap_prefill=False).run([r])
    return r.generated


@pytest.mark.slow
def test_prefill_beside_decoding_gives_each_request_its_own_greedy_tokens(lm):
    b = batching.Batcher(lm, max_batch_size=4, prefix_cache=None, overlap_prefill=True)
    assert b.overlap
    first_token_thread: dict[int, str] = {}

    def note_thread(r: batching.GenRequest) -> None:
        first_token_thread.setdefault(id(r), threading.current_thread().name)

    early = [exam_request(lm, t) for t in (5, 2)]
    late = [exam_request(lm, t) for t in (4, 1)]
    for r in (*early, *late):
        r.on_token = note_thread
    for r in early:
        b.submit(r)
    while not any(r.generated for r in early):
        b.step()
    for r in late:  # they join while the first two decode
        b.submit(r)
    while b.busy:
        b.step()
    assert [r.generated for r in (*early, *late)] == [_alone(lm, t) for t in (5, 2, 4, 1)]
    assert all(r.done and r.text for r in (*early, *late))
    # Each first token was picked where the prompt ran: in the prefill thread.
    assert set(first_token_thread.values()) == {"sweetiechat-prefill"}
    assert b.prefill_tokens == sum(len(r.prompt_ids) for r in (*early, *late))


@pytest.mark.slow
@pytest.mark.parametrize("overlap", [True, False])
def test_a_prompt_that_fails_fails_alone_and_the_batch_goes_on(lm, overlap):
    b = batching.Batcher(lm, max_batch_size=4, prefix_cache=None, overlap_prefill=overlap)
    good = exam_request(lm, 2)
    bad = batching.GenRequest([10**9], 4, batching.Sampling())  # not a token id
    with pytest.raises(IndexError):
        b.run([good, bad])
    assert bad.done and isinstance(bad.error, IndexError) and not bad.generated
    assert good.done and good.error is None and good.generated == _alone(lm, 2)
    assert not b.busy
    again = exam_request(lm, 1)
    b.run([again])
    assert again.generated == _alone(lm, 1)


@pytest.mark.slow
def test_the_prefill_thread_ends_when_idle_and_starts_again(lm, monkeypatch):
    monkeypatch.setattr(batching, "IDLE_EXIT_S", 0.1)
    b = batching.Batcher(lm, max_batch_size=2, prefix_cache=None, overlap_prefill=True)
    r = exam_request(lm, 1, max_new=2)
    b.run([r])
    deadline = time.monotonic() + 5
    while b._worker is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert b._worker is None
    again = exam_request(lm, 1, max_new=2)
    b.run([again])
    assert again.generated == r.generated


def test_the_cores_are_split_between_decoding_and_prefill(monkeypatch):
    monkeypatch.setattr(threads, "_BASE", 2)
    assert threads.overlap_default() and threads.worker_threads() == 1
    monkeypatch.setattr(threads, "_BASE", 16)
    assert threads.worker_threads() == 8
    monkeypatch.setattr(threads, "_BASE", 1)  # OMP_NUM_THREADS=1: no second thread
    assert not threads.overlap_default() and threads.worker_threads() == 1


@pytest.mark.slow
def test_one_torch_thread_or_one_row_prefills_between_steps(lm, monkeypatch):
    monkeypatch.setattr(threads, "_BASE", 1)
    assert not batching.Batcher(lm, max_batch_size=8).overlap
    monkeypatch.setattr(threads, "_BASE", 2)
    assert batching.Batcher(lm, max_batch_size=8).overlap
    assert not batching.Batcher(lm, max_batch_size=1).overlap
