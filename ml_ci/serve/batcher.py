"""Dynamic micro-batching: one thread gathers requests for up to max_batch_delay_ms (or until
max_batch_size texts), runs one model call for all of them and hands each request its rows.

Requests larger than a batch are split into chunks on submit, so a batch never exceeds
max_batch_size and a big request cannot starve small ones for long.

Waiting only pays when someone else is coming: given `active` (the requests being handled right
now), the batcher stops waiting once every active request is in the batch, so a lone request
is not delayed by max_batch_delay_ms.

A failed model call fails no request that did not cause it: the batch is split in halves and each half
retried, down to single chunks, so that only the chunks whose own texts fail get the exception
(log2(batch) extra calls per bad chunk, and none when nothing fails). Without this, one client whose
text the model cannot take fails every request that happens to share its batch.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

# Rows of the served model (one per input: a task's scores); a numpy array in the server, plain lists in tests.
Predict = Callable[[list[str]], Any]


@dataclass
class _Chunk:
    texts: list[str]
    future: Future[list[list[float]]] = field(default_factory=Future)


_STOP = object()


class MicroBatcher:
    def __init__(
        self,
        predict: Predict,
        *,
        max_batch_size: int,
        max_batch_delay_ms: float,
        on_batch: Callable[[int, float], None] | None = None,
        active: Callable[[], int] | None = None,
    ) -> None:
        self._predict = predict
        self._active = active
        self._max = max_batch_size
        self._delay = max_batch_delay_ms / 1000.0
        self._on_batch = on_batch or (lambda size, seconds: None)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._carry: Any = None  # a chunk (or the stop marker) that did not fit the last batch
        self._thread = threading.Thread(target=self._run, name="micro-batcher", daemon=True)
        self._thread.start()

    def submit(self, texts: list[str]) -> list[Future[list[list[float]]]]:
        """Queue the texts; one future per chunk of at most max_batch_size texts, in order."""
        chunks = [_Chunk(texts[i : i + self._max]) for i in range(0, len(texts), self._max)]
        for chunk in chunks:
            self._queue.put(chunk)
        return [c.future for c in chunks]

    def predict(self, texts: list[str], timeout: float | None = None) -> list[list[float]]:
        """Blocking convenience: the rows for texts, in order."""
        rows: list[list[float]] = []
        deadline = None if timeout is None else time.monotonic() + timeout
        for future in self.submit(texts):
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            rows.extend(future.result(timeout=remaining))
        return rows

    def close(self) -> None:
        """Finish every chunk already queued, then stop the thread."""
        self._queue.put(_STOP)
        self._thread.join()

    def _next_batch(self) -> tuple[list[_Chunk], bool]:
        """Block for the first chunk, then gather more until the batch is full or the delay is spent."""
        first = self._carry if self._carry is not None else self._queue.get()
        self._carry = None
        if first is _STOP:
            return [], True
        batch, size = [first], len(first.texts)
        deadline = time.monotonic() + self._delay
        while size < self._max:
            remaining = deadline - time.monotonic()
            if self._active is not None and self._queue.empty() and len(batch) >= self._active():
                remaining = 0  # everyone in flight is in this batch: take what is queued, do not wait
            try:
                item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                # Serve what was gathered; the stop is seen on the next turn.
                self._carry = item
                break
            if size + len(item.texts) > self._max:
                self._carry = item
                break
            batch.append(item)
            size += len(item.texts)
        return batch, False

    def _run(self) -> None:
        while True:
            batch, stop = self._next_batch()
            if stop:
                return
            self._serve(batch)

    def _serve(self, batch: list[_Chunk]) -> None:
        """One model call for the batch; on failure, retry each half alone until the failing chunks are found."""
        texts = [t for chunk in batch for t in chunk.texts]
        started = time.perf_counter()
        try:
            result = self._predict(texts)
            # numpy's tolist() is one C call; any other sequence's rows are the task's as they are (scores in
            # tests, entities for a tagger): the batcher only hands each request its own.
            rows: list[Any] = result.tolist() if hasattr(result, "tolist") else list(result)
        except Exception as e:
            if len(batch) == 1:
                batch[0].future.set_exception(e)
                return
            half = len(batch) // 2
            self._serve(batch[:half])
            self._serve(batch[half:])
            return
        self._on_batch(len(texts), time.perf_counter() - started)
        offset = 0
        for chunk in batch:
            chunk.future.set_result(rows[offset : offset + len(chunk.texts)])
            offset += len(chunk.texts)
