"""Concurrent generation for the server: ONNX Runtime GenAI's Engine batching the sequences of many requests on
one loaded model (`runtime.Runtime`), owned by one thread.

    engine = Engine(runtime, max_sequences=8, max_queued=64, metrics=GenerationMetrics(registry))
    generation = engine.submit(ids, Settings(max_new_tokens=64, stop=("\\n",)))  # Busy when all places are taken
    for delta in generation:  # Delta(text): new text as it comes (a stream)
        ...
    completion = generation.result()  # runtime.Completion; RuntimeError if this sequence failed
    generation.cancel()  # a client gone: the turn is cancelled, finish "cancelled"

Threads: the library's Engine must be created and used from one thread ("Engine operations must be called from the
Engine owner thread"). That thread (a daemon) owns it: `submit` and `cancel` are thread-safe and only put a message
on its queue; it runs the engine while any sequence is pending and otherwise blocks on the queue. A Generation is
read by one consumer (iterating it, or `result`).

Batching: static (the CPU build's KV cache is not paged, which dynamic batching needs). A batch of at most
`max_sequences` runs until its last sequence ends (the runtime's max_batch_size, set before the model loads, must
be that number); meanwhile up to `max_queued` more wait here, in order of submission, and start together as the
next batch; beyond those, `submit` raises `Busy` (the route answers 429). So a sequence that arrives while a batch
runs waits for that batch to end: its time to the first token is the rest of the running batch, and a long
sequence holds back the ones that come after it (the library does not add to a running batch: measured with
onnxruntime-genai 0.18.0). That is the trade-off of static batching; one stream at a time would make it wait for
every sequence before it. Greedy sequences give exactly the tokens `Runtime.generate` gives alone (the golden
examples rely on it).

Text: each sequence's tokens go through `runtime.TextStream`, as in `Runtime.generate`: the text is decoded whole
after each token, a stop string ends the sequence (the engine cancels its turn; the completion is cut before it),
and a streamed piece never holds a stop string or the start of one, nor half a character (held back until it is
whole, or is not a stop). The pieces joined are the completion's text. End-of-sequence tokens are not text.

Sampling (temperature above 0): temperature and top_p as `Runtime.generate` samples, top-k off; `Settings.seed` is
not applied. The library refuses a per-turn seed to a static-batching engine ("A per-turn seed requires an Engine
configured for dynamic batching"), so sampled completions come from the engine's own random stream and are not
reproducible per request (OpenAI's `seed` is best-effort too). Greedy ones are.

Times: `Completion.first_token_s` and `total_s` count from `submit` (the wait in the queue is what a user feels);
`tokens_per_second` is the decode phase's speed, as for `Runtime.generate`.

Failures: a prompt the model cannot take (empty, a token id outside the vocabulary, no room in the context for one
new token) is refused by `submit` with ValueError before it reaches the engine. A sequence the engine fails makes
that Generation raise RuntimeError (iterating it, or `result`). The library fails a whole static batch when one
of its sequences fails and leaves the Engine unusable: the engine is then made anew on the same model, and the
sequences of that batch that had no token yet run again one at a time, so that only the one that fails alone
fails. The others, already streamed, fail.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Union

from ml_ci.tasks.text_generation.runtime import Completion, Finish, Runtime, Settings, TextStream

if TYPE_CHECKING:
    from ml_ci.tasks.text_generation.metrics import GenerationMetrics

log = logging.getLogger(__name__)


class Busy(Exception):
    """Every place is taken: max_sequences generating and max_queued waiting."""


@dataclass(frozen=True)
class Delta:
    """New text of a sequence, in order."""

    text: str


class _End:
    pass


_END = _End()


class Generation:
    """One sequence's generation: iterate it for its new text (once; a second iteration yields nothing more), or wait
    for `result()`. `completion` is None until it ends."""

    def __init__(self, engine: Engine, ids: list[int], settings: Settings) -> None:
        self._engine = engine
        self.ids = ids  # the prompt's tokens, as the model sees them
        self.settings = settings
        self.submitted = time.perf_counter()
        self.completion: Optional[Completion] = None
        self.error: Optional[str] = None
        self._items: queue.SimpleQueue[Union[Delta, _End]] = queue.SimpleQueue()
        self._done = threading.Event()
        self._cancel_asked = False
        # The engine thread's alone from here.
        self._stream = TextStream(engine.runtime.decode, settings.stop)
        self._first: Optional[float] = None
        self._request: Any = None
        self._turn = 0
        self._solo = False  # run again alone, after a batch failed before it had a token

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def __iter__(self) -> Iterator[Delta]:
        while True:
            item = self._items.get()
            if isinstance(item, _End):
                self._items.put(item)  # a second iteration ends at once too
                break
            yield item
        if self.error is not None:
            raise RuntimeError(self.error)

    def result(self, timeout: Optional[float] = None) -> Completion:
        """The completion, once every token is in (TimeoutError after `timeout` seconds; RuntimeError if it failed)."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"the generation did not end within {timeout} s")
        if self.error is not None:
            raise RuntimeError(self.error)
        assert self.completion is not None
        return self.completion

    def cancel(self) -> None:
        """Stop generating (a client gone); idempotent, and nothing once it has ended. It then ends "cancelled"."""
        with self._engine._lock:
            if self._cancel_asked or self.done:
                return
            self._cancel_asked = True
        self._engine._inbox.put(("cancel", self))


_Message = tuple[str, Optional[Generation]]


class Engine:
    """See the module's docstring."""

    def __init__(
        self, runtime: Runtime, *, max_sequences: int, max_queued: int, metrics: Optional[GenerationMetrics] = None
    ) -> None:
        if max_sequences < 1 or max_queued < 0:
            raise ValueError(f"max_sequences must be 1 or more and max_queued 0 or more, not {max_sequences}, {max_queued}")
        if runtime.max_batch_size != max_sequences:
            raise ValueError(
                f"load the runtime with max_batch_size={max_sequences} (max_sequences), not {runtime.max_batch_size}: "
                "the library sizes its batches when the model loads"
            )
        self.runtime = runtime
        self.max_sequences = max_sequences
        self.max_queued = max_queued
        self.metrics = metrics
        self._lock = threading.Lock()
        self._taken = 0  # generations submitted and not ended (Busy beyond max_sequences + max_queued)
        self._closed = False
        self._dead: Optional[str] = None  # why the thread cannot generate any more
        self._inbox: queue.SimpleQueue[_Message] = queue.SimpleQueue()
        self._waiting: deque[Generation] = deque()
        self._running: dict[int, Generation] = {}  # id(request) -> its generation (until the engine lets it go)
        self._og: Any = None
        self._buffer: Any = None
        started = threading.Event()
        self._thread = threading.Thread(target=self._main, args=(started,), name="ml-ci-engine", daemon=True)
        self._thread.start()
        started.wait()
        if self._dead is not None:
            raise RuntimeError(self._dead)

    @property
    def capacity(self) -> int:
        return self.max_sequences + self.max_queued

    @property
    def taken(self) -> int:
        """Generations submitted and not yet ended."""
        with self._lock:
            return self._taken

    def submit(self, ids: list[int], settings: Settings) -> Generation:
        """Start generating after `ids` (a prompt's tokens; the first ones are dropped if it and max_new_tokens exceed
        the context, as Runtime.generate does). Thread-safe. Busy when every place is taken; ValueError for a
        prompt the model cannot take; RuntimeError once the engine is closed."""
        if settings.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be 1 or more, not {settings.max_new_tokens}")
        bad = next((t for t in ids if not 0 <= int(t) < self.runtime.vocab_size), None)
        if bad is not None:
            raise ValueError(f"token id {bad} is outside the model's vocabulary (0..{self.runtime.vocab_size - 1})")
        generation = Generation(self, self.runtime.prompt_ids(ids, settings.max_new_tokens), settings)
        with self._lock:
            if self._closed or self._dead is not None:
                raise RuntimeError(self._dead or "the engine is closed")
            if self._taken >= self.capacity:
                raise Busy(
                    f"{self._taken} sequences are generating or waiting, the most this server takes "
                    f"({self.max_sequences} at once and {self.max_queued} waiting)"
                )
            self._taken += 1
            if self.metrics is not None:
                self.metrics.queue_depth.inc()
            # Under the lock: a thread that stops takes every message put before it said so (_die).
            self._inbox.put(("submit", generation))
        return generation

    def close(self, timeout: Optional[float] = None) -> None:
        """Cancel what is generating or waiting, then stop the thread. Idempotent."""
        with self._lock:
            self._closed = True
        self._inbox.put(("close", None))
        self._thread.join(timeout)

    # --- the engine's thread -------------------------------------------------------------------

    def _main(self, started: threading.Event) -> None:
        try:
            self._new_engine()
        except Exception as e:  # a model the engine cannot run: said where Engine() was called
            self._dead = f"ONNX Runtime GenAI's engine did not start: {e}"
            started.set()
            return
        started.set()
        closing = False
        while True:
            try:
                idle = not closing and not self._waiting and not self._og.has_pending_requests()
                closing = self._receive(block=idle) or closing
                if closing:
                    self._cancel_all()
                self._admit()
                if self._og.has_pending_requests():
                    self._step()
                elif self._running:  # the library holds none of them any more: no event will come for them
                    for generation in list(self._running.values()):
                        self._let_go(generation)
                        self._fail(generation, "the engine dropped this sequence")
                elif closing:
                    break
            except Exception as e:  # a bug or the library's: fail what is in flight, never hang the callers
                log.exception("the generation engine failed")
                self._fail_all(f"the generation engine failed: {e}")
                try:
                    self._new_engine()
                except Exception as again:
                    self._die(f"the generation engine failed and could not start again: {again}")
                    return
        self._die("the engine is closed")

    def _new_engine(self) -> None:
        import onnxruntime_genai as og

        self._og = og.Engine(self.runtime.model)
        self._buffer = self._og.create_event_buffer(max(64, 4 * self.max_sequences))

    def _receive(self, *, block: bool) -> bool:
        """Take the messages waiting (waiting for one if `block`); True once asked to close."""
        closing = False
        try:
            message = self._inbox.get() if block else self._inbox.get_nowait()
            while True:
                kind, generation = message
                if kind == "close":
                    closing = True
                elif kind == "submit" and generation is not None:
                    self._waiting.append(generation)
                elif kind == "cancel" and generation is not None:
                    self._cancel(generation)
                message = self._inbox.get_nowait()
        except queue.Empty:
            pass
        return closing

    def _admit(self) -> None:
        """Once the batch has ended, start the next one: up to max_sequences of the waiting, in order; a sequence run
        again alone (see _recover) with no other. The library would not add a sequence to a running batch anyway
        (it waits for the batch to end: measured), so waiting here instead keeps the queue's gauge, cancelling a
        waiting sequence and the next batch's size exact (a batch of 8 whose 7 sequences ended early takes the
        next 8 once its last one ends, not the 7 that came meanwhile)."""
        if self._running:
            return
        while self._waiting and len(self._running) < self.max_sequences:
            if self._waiting[0]._solo and self._running:
                return
            generation = self._waiting.popleft()
            if self.metrics is not None:
                self.metrics.queue_depth.dec()
            self._start(generation)
            if generation._solo:
                return

    def _start(self, generation: Generation) -> None:
        import numpy as np
        import onnxruntime_genai as og

        settings = generation.settings
        try:
            request = self._og.create_request()
            options = og.TurnOptions(request)
            options.set_max_generated_tokens(settings.max_new_tokens)
            if settings.greedy:
                options.set_do_sample(False)
            else:  # as Runtime.generate samples (top-k off), but unseeded: see the module's docstring
                options.set_do_sample(True)
                options.set_temperature(settings.temperature)
                options.set_top_p(settings.top_p)
                options.set_top_k(0)
            turn = request.begin_turn(np.asarray(generation.ids, dtype=np.int32), options)
        except Exception as e:  # refused by the library (e.g. no room left in the context)
            self._fail(generation, f"the engine refused the prompt: {e}")
            return
        generation._request, generation._turn = request, turn
        self._running[id(request)] = generation
        if self.metrics is not None:
            self.metrics.running.inc()
            self.metrics.prompt_tokens.inc(len(generation.ids))

    def _step(self) -> None:
        import onnxruntime_genai as og

        token_flag, finished_flag, failed_flag = (
            int(og.EngineEventFlags.TOKEN),
            int(og.EngineEventFlags.TURN_FINISHED),
            int(og.EngineEventFlags.FAILED),
        )
        engine_failures = (og.EngineErrorCode.ENGINE_EXECUTION_FAILURE, og.EngineErrorCode.ENGINE_CONTRACT_FAILURE)
        events = self._og.run(self._buffer)
        now = time.perf_counter()
        broken: list[Generation] = []
        for event in events:
            generation = self._running.get(id(event.request))
            if generation is None:
                continue
            flags = int(event.flags)
            if flags & token_flag and event.token is not None and not generation.done:
                self._token(generation, int(event.token), now)
            failed = bool(flags & failed_flag) or event.finish_reason == og.FinishReason.FAILED
            if failed or flags & finished_flag:
                self._let_go(generation)
                if failed and event.error_code in engine_failures:
                    broken.append(generation)
                elif failed:
                    self._fail(generation, f"the engine failed this sequence ({event.error_code.name})")
                elif not generation.done:
                    self._finish(generation, _FINISH.get(event.finish_reason.name, "length"), now)
        if broken:
            self._recover(broken)

    def _token(self, generation: Generation, token: int, now: float) -> None:
        if token in self.runtime.eos_token_ids:
            return  # not text; the turn ends with EOS
        if generation._first is None:
            generation._first = now - generation.submitted
            if self.metrics is not None:
                self.metrics.first_token(generation._first)
        if self.metrics is not None:
            self.metrics.token()
        piece = generation._stream.push(token)
        if piece:
            generation._items.put(Delta(piece))
        if generation._stream.stopped:
            generation._request.cancel_turn(generation._turn)  # its CANCELLED event lets it go
            self._finish(generation, "stop", now)

    def _cancel(self, generation: Generation) -> None:
        if generation.done:
            return
        if generation in self._waiting:
            self._waiting.remove(generation)
            if self.metrics is not None:
                self.metrics.queue_depth.dec()
        elif generation._request is not None:
            generation._request.cancel_turn(generation._turn)
        self._finish(generation, "cancelled", time.perf_counter())

    def _cancel_all(self) -> None:
        for generation in [*self._waiting, *self._running.values()]:
            self._cancel(generation)

    def _let_go(self, generation: Generation) -> None:
        """The engine is done with its request: its place in the batch is free."""
        if self._running.pop(id(generation._request), None) is None:
            return
        with contextlib.suppress(Exception):  # a request of an engine that failed: nothing to free
            generation._request.close()
        generation._request = None
        if self.metrics is not None:
            self.metrics.running.dec()

    def _recover(self, broken: list[Generation]) -> None:
        """A failed batch left the library's Engine unusable: make it anew, run again alone what had no token yet."""
        broken += list(self._running.values())
        for generation in list(self._running.values()):
            self._let_go(generation)
        log.warning("the generation engine failed a batch of %d sequences; starting it again", len(broken))
        self._new_engine()
        again = len(broken) > 1  # alone, it is the one that fails
        for generation in reversed(broken):
            if generation.done:
                continue
            if again and not generation._solo and not generation._stream.tokens and generation._first is None:
                generation._solo = True
                generation._request = None
                self._waiting.appendleft(generation)
                if self.metrics is not None:
                    self.metrics.queue_depth.inc()
            else:
                self._fail(generation, "the engine failed while generating this sequence (the server's log says why)")

    def _finish(self, generation: Generation, finish: Finish, now: float) -> None:
        stream = generation._stream
        rest = stream.rest()
        if rest:
            generation._items.put(Delta(rest))
        total = now - generation.submitted
        generation.completion = Completion(
            text=stream.final,
            tokens=tuple(stream.tokens),
            prompt_tokens=len(generation.ids),
            finish=finish,
            first_token_s=generation._first if generation._first is not None else total,
            total_s=total,
        )
        if self.metrics is not None:
            self.metrics.finished(generation.completion)
        self._end(generation)

    def _fail(self, generation: Generation, error: str) -> None:
        if generation.done:
            return
        generation.error = error
        if self.metrics is not None:
            self.metrics.failed()
        self._end(generation)

    def _end(self, generation: Generation) -> None:
        with self._lock:
            self._taken -= 1
        generation._items.put(_END)
        generation._done.set()

    def _fail_all(self, error: str) -> None:
        for generation in list(self._running.values()):
            self._let_go(generation)
            self._fail(generation, error)
        while self._waiting:
            generation = self._waiting.popleft()
            if self.metrics is not None:
                self.metrics.queue_depth.dec()
            self._fail(generation, error)

    def _die(self, error: str) -> None:
        """No more generating: fail what is left, and what was submitted in the meantime."""
        with self._lock:
            self._dead = self._dead or error
            self._closed = True
        self._fail_all(error)
        self._receive(block=False)
        self._fail_all(error)


_FINISH: dict[str, Finish] = {
    "EOS": "eos",
    "STOP_STRING": "stop",
    "MAX_GENERATED_TOKENS": "length",
    "MAX_SESSION_TOKENS": "length",
    "CANCELLED": "cancelled",
}
