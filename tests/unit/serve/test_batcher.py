"""Micro-batching with a fake model: results go back to the right request, batches stay bounded."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from ml_ci.serve.batcher import MicroBatcher


class FakeModel:
    """Row i is [len(text)]: each answer tells which text it came from. Records batch sizes."""

    def __init__(self, delay: float = 0.0, fail_on: str | None = None) -> None:
        self.sizes: list[int] = []
        self.delay = delay
        self.fail_on = fail_on
        self.lock = threading.Lock()

    def __call__(self, texts: list[str]) -> list[list[float]]:
        with self.lock:
            self.sizes.append(len(texts))
        if self.fail_on in texts:
            raise RuntimeError("model failed")
        time.sleep(self.delay)
        return [[float(len(t))] for t in texts]


def test_concurrent_requests_are_batched_and_answered_in_order() -> None:
    model = FakeModel(delay=0.01)
    batcher = MicroBatcher(model, max_batch_size=8, max_batch_delay_ms=20)
    requests = [["x" * (i % 7 + 1) for _ in range(i % 3 + 1)] for i in range(60)]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda texts: batcher.predict(texts, timeout=10), requests))
    batcher.close()
    assert answers == [[[float(len(t))] for t in texts] for texts in requests]
    assert max(model.sizes) <= 8
    assert sum(model.sizes) == sum(len(r) for r in requests)
    assert len(model.sizes) < len(requests), "requests that arrive together share a model call"


def test_a_request_larger_than_a_batch_is_split() -> None:
    model = FakeModel()
    batcher = MicroBatcher(model, max_batch_size=4, max_batch_delay_ms=0)
    texts = [str(i) * (i + 1) for i in range(10)]
    assert batcher.predict(texts) == [[float(len(t))] for t in texts]
    batcher.close()
    assert max(model.sizes) <= 4 and sum(model.sizes) == 10


def test_a_failed_batch_fails_its_requests_and_the_batcher_keeps_serving() -> None:
    batcher = MicroBatcher(FakeModel(fail_on="boom"), max_batch_size=4, max_batch_delay_ms=0)
    with pytest.raises(RuntimeError, match="model failed"):
        batcher.predict(["boom"], timeout=5)
    assert batcher.predict(["ok"], timeout=5) == [[2.0]]
    batcher.close()


def test_a_failing_request_fails_alone_and_its_batch_mates_are_answered() -> None:
    """Issue 13: one text the model cannot take failed every request batched with it."""
    model = FakeModel(delay=0.01, fail_on="boom")
    batcher = MicroBatcher(model, max_batch_size=64, max_batch_delay_ms=200)
    requests = [["boom" if i in (3, 11) else f"t{i}", f"u{i}"] for i in range(16)]
    futures = [batcher.submit(texts) for texts in requests]  # queued together: one batch, two bad requests
    outcomes = []
    for (future,) in futures:
        error = future.exception(timeout=10)
        outcomes.append(str(error) if error else future.result())
    batcher.close()
    for i, (texts, outcome) in enumerate(zip(requests, outcomes, strict=True)):
        assert outcome == ("model failed" if i in (3, 11) else [[float(len(t))] for t in texts]), i
    assert model.sizes[0] == 32, "the first call held every request"
    # Bisection: each bad request costs about 2 * log2(16) calls, not one call per request.
    assert len(model.sizes) <= 1 + 2 * 2 * 4


def test_close_answers_everything_already_queued() -> None:
    model = FakeModel(delay=0.02)
    batcher = MicroBatcher(model, max_batch_size=2, max_batch_delay_ms=0)
    futures = [f for i in range(5) for f in batcher.submit([f"t{i}"])]
    batcher.close()
    assert all(f.done() and not f.exception() for f in futures)
    assert [f.result() for f in futures] == [[[2.0]]] * 5


def test_batch_observer_sees_every_model_call() -> None:
    seen: list[int] = []
    batcher = MicroBatcher(FakeModel(), max_batch_size=3, max_batch_delay_ms=0, on_batch=lambda size, _s: seen.append(size))
    batcher.predict(["a", "b", "c", "d"])
    batcher.close()
    assert sum(seen) == 4 and max(seen) <= 3


def test_length_groups_bound_padding_and_cover_every_text() -> None:
    from ml_ci.serve.runtime import length_groups

    lengths = [5, 64, 7, 6, 60, 30, 5, 62, 8]
    groups = length_groups(lengths)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    for g in groups:
        width, real = max(lengths[i] for i in g), sum(lengths[i] for i in g)
        assert width * len(g) <= 1.25 * real
    assert [sorted(lengths[i] for i in g) for g in groups] == [[30, 60, 62, 64], [5, 6, 7, 8], [5]]
    assert length_groups([10] * 32) == [list(range(32))], "equal lengths make one batch"


def test_a_lone_request_does_not_wait_for_the_batch_delay() -> None:
    batcher = MicroBatcher(FakeModel(), max_batch_size=8, max_batch_delay_ms=60_000, active=lambda: 1)
    done = threading.Event()
    threading.Thread(target=lambda: (batcher.predict(["a"]), done.set()), daemon=True).start()
    assert done.wait(30), "with one request in flight the batcher would otherwise wait 60 s"
    batcher.close()
