"""The server's generation engine (ml_ci/tasks/text_generation/engine.py) on a tiny random Llama exported as the
export stage exports it (tests/lm.py; random weights write long completions, so that streams, stops and cancels
happen mid-way): static batches give the single-stream tokens, streamed text joins to the completion and never
shows a stop string, cancel and Busy free and refuse places, one sequence's failure fails it alone, and the metrics
move. A metrics stand-in that holds the engine's thread at a sequence's first token makes the queue's states
deterministic (no sleeps)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from ml_ci.tasks.text_generation.engine import Busy, Delta, Engine, Generation
from ml_ci.tasks.text_generation.export import build
from ml_ci.tasks.text_generation.metrics import GenerationMetrics
from ml_ci.tasks.text_generation.runtime import Runtime, Settings
from tests.lm import tiny_lm

pytestmark = pytest.mark.integration

Make = Callable[..., Engine]
PROMPTS = [f"Q{i}: what is {i} plus {3 * i}?" + " Think it through." * (i % 4) + " A:" for i in range(16)]


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("engine")
    build(tiny_lm(root, "llama"), root / "export", root / "cache")
    return root / "export"


@pytest.fixture(scope="module")
def single(export: Path) -> Runtime:
    """The reference: one stream at a time, with no engine overlay."""
    return Runtime(export, threads=1)


class Held(GenerationMetrics):
    """Holds the engine's thread at the n-th token generated (counted over every sequence) until released."""

    def __init__(self, registry: CollectorRegistry, *at: int) -> None:
        super().__init__(registry)
        self.count = 0
        self.gates = {n: (threading.Event(), threading.Event()) for n in at}

    def token(self) -> None:
        super().token()
        self.count += 1
        if self.count in self.gates:
            reached, release = self.gates[self.count]
            reached.set()
            assert release.wait(30)

    def reached(self, n: int) -> bool:
        return self.gates[n][0].wait(30)

    def release(self, n: int) -> None:
        self.gates[n][1].set()


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    got = registry.get_sample_value(name, labels)
    return 0.0 if got is None else got


@pytest.fixture
def make(export: Path) -> Iterator[Make]:
    engines: list[Engine] = []

    def make(max_sequences: int, max_queued: int, metrics: GenerationMetrics | None = None) -> Engine:
        engine = Engine(
            Runtime(export, threads=1, max_batch_size=max_sequences),
            max_sequences=max_sequences,
            max_queued=max_queued,
            metrics=metrics,
        )
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close(30)


def test_sixteen_greedy_prompts_at_once_give_the_single_stream_tokens_and_their_text_streamed(
    make: Make, single: Runtime
) -> None:
    engine = make(8, 8)
    settings = Settings(max_new_tokens=24)
    generations = [engine.submit(single.encode(p), settings) for p in PROMPTS]  # 8 in the batch, 8 waiting
    done = [g.result(120) for g in generations]
    for generation, completion, prompt in zip(generations, done, PROMPTS, strict=True):
        alone = single.generate(prompt, settings)
        assert (completion.tokens, completion.text, completion.finish) == (alone.tokens, alone.text, alone.finish)
        assert completion.prompt_tokens == alone.prompt_tokens == len(single.encode(prompt))
        assert "".join(d.text for d in generation) == completion.text  # the deltas, kept for a late reader
        assert 0 < completion.first_token_s <= completion.total_s
    assert "length" in {c.finish for c in done} and engine.taken == 0
    # The engine's overlay does not change what Runtime.generate gives.
    assert engine.runtime.generate(PROMPTS[0], settings).tokens == single.generate(PROMPTS[0], settings).tokens


def straddling_stop(runtime: Runtime, tokens: tuple[int, ...]) -> tuple[str, int]:
    """Two characters of the text that come from two tokens (the first one's last, the next one's first), found
    first there: (the stop, where it begins)."""
    text = runtime.decode(tokens)
    for k in range(1, len(tokens)):
        before = runtime.decode(tokens[:k])
        end = len(before)
        stop = text[end - 1 : end + 1]
        whole = end > 1 and len(stop) == 2 and "\ufffd" not in stop and text.startswith(before)
        if whole and text.find(stop) == end - 1 and runtime.decode(tokens[: k + 1]).startswith(text[: end + 1]):
            return stop, end - 1
    raise AssertionError(f"no two characters straddle two tokens in {text!r}")


def test_a_stop_string_split_over_tokens_never_shows_in_the_stream(make: Make, single: Runtime) -> None:
    engine = make(2, 2)
    full = single.generate(PROMPTS[1], Settings(max_new_tokens=40))
    stop, at = straddling_stop(single, full.tokens)
    generation = engine.submit(single.encode(PROMPTS[1]), Settings(max_new_tokens=40, stop=(stop,)))
    pieces = [d.text for d in generation]
    completion = generation.result(30)
    assert completion.finish == "stop" and completion.text == "".join(pieces) == full.text[:at]
    assert completion.tokens == full.tokens[: len(completion.tokens)] and len(completion.tokens) < len(full.tokens)
    # A stop the text only begins: its start is held back, then comes when the text shows it is not the stop.
    held = engine.submit(single.encode(PROMPTS[1]), Settings(max_new_tokens=40, stop=(stop + "\x00never",)))
    assert "".join(d.text for d in held) == full.text and held.result(30).finish == full.finish


def test_cancel_mid_way_ends_cancelled_and_busy_refuses_beyond_the_places(make: Make, single: Runtime) -> None:
    registry = CollectorRegistry()
    metrics = Held(registry, 1)
    engine = make(1, 1, metrics)
    ids = single.encode(PROMPTS[2])
    long = engine.submit(ids, Settings(max_new_tokens=400))
    assert metrics.reached(1)  # the engine's thread is at its first token
    queued = engine.submit(ids, Settings(max_new_tokens=8))
    assert value(registry, "mlci_running_sequences") == 1 and value(registry, "mlci_queue_depth") == 1
    with pytest.raises(Busy, match="1 at once and 1 waiting"):
        engine.submit(ids, Settings(max_new_tokens=8))
    queued.cancel()
    long.cancel()
    long.cancel()  # idempotent
    metrics.release(1)
    first = long.result(30)
    assert (
        first.finish == "cancelled"
        and 1 <= len(first.tokens) < 400
        and first.tokens == single.generate(ids, Settings(max_new_tokens=len(first.tokens))).tokens
    )
    assert (queued.result(30).finish, queued.result().tokens) == ("cancelled", ())
    # Both places are free again, and the engine generates as before.
    again = [engine.submit(ids, Settings(max_new_tokens=8)) for _ in range(2)]
    alone = single.generate(ids, Settings(max_new_tokens=8))
    assert [(g.result(30).tokens, g.result().finish) for g in again] == [(alone.tokens, alone.finish)] * 2
    assert engine.taken == 0
    assert value(registry, "mlci_sequences_total", finish="cancelled") == 2
    assert value(registry, "mlci_sequences_total", finish=alone.finish) == 2
    assert value(registry, "mlci_running_sequences") == 0 and value(registry, "mlci_queue_depth") == 0
    assert value(registry, "mlci_prompt_tokens_total") == 3 * len(ids)  # the queued one never started
    assert value(registry, "mlci_generated_tokens_total") == len(first.tokens) + 2 * len(alone.tokens)
    assert value(registry, "mlci_time_to_first_token_seconds_count") == 3
    assert value(registry, "mlci_tokens_per_second_count") == 2 + (len(first.tokens) > 1)


def test_what_comes_while_a_batch_runs_waits_for_the_next_batch(make: Make, single: Runtime) -> None:
    """Static batching: the library adds nothing to a running batch, so the engine keeps what comes meanwhile queued
    (the gauges say so), then starts up to max_sequences of it together once the batch has ended."""
    registry = CollectorRegistry()
    metrics = Held(registry, 1, 2)
    engine = make(2, 4, metrics)
    first = engine.submit(single.encode(PROMPTS[0]), Settings(max_new_tokens=400))
    assert metrics.reached(1)
    settings = Settings(max_new_tokens=10)
    later = [engine.submit(single.encode(p), settings) for p in PROMPTS[1:4]]
    metrics.release(1)
    assert metrics.reached(2)  # the first's second token: the three submitted were taken in meanwhile
    assert value(registry, "mlci_running_sequences") == 1 and value(registry, "mlci_queue_depth") == 3
    first.cancel()
    metrics.release(2)
    assert [g.result(30).tokens for g in later] == [single.generate(p, settings).tokens for p in PROMPTS[1:4]]
    assert first.result().finish == "cancelled" and engine.taken == 0


def test_a_sequence_the_engine_fails_fails_alone(make: Make, single: Runtime) -> None:
    """A token id the model has no embedding for gets past submit's check (told the vocabulary is larger): the
    library fails its whole batch; the others run again alone and give their tokens; the engine goes on."""
    registry = CollectorRegistry()
    metrics = Held(registry, 1)
    engine = make(4, 4, metrics)
    hold = engine.submit(single.encode(PROMPTS[0]), Settings(max_new_tokens=400))
    assert metrics.reached(1)
    engine.runtime.vocab_size = 10**6  # past submit's check; the embedding Gather fails on it
    settings = Settings(max_new_tokens=12)
    good = [engine.submit(single.encode(p), settings) for p in PROMPTS[3:5]]
    bad = engine.submit([5, 100_000, 7], settings)
    good.append(engine.submit(single.encode(PROMPTS[5]), settings))
    hold.cancel()
    metrics.release(1)  # the three start together once the held one is let go
    with pytest.raises(RuntimeError, match="the engine failed"):
        bad.result(60)
    with pytest.raises(RuntimeError, match="the engine failed"):
        list(bad)
    assert [g.result(60).tokens for g in good] == [single.generate(p, settings).tokens for p in PROMPTS[3:6]]
    assert value(registry, "mlci_sequences_total", finish="failed") == 1
    assert engine.submit(single.encode(PROMPTS[6]), settings).result(30).tokens == single.generate(PROMPTS[6], settings).tokens
    assert engine.taken == 0 and value(registry, "mlci_running_sequences") == 0


def test_prompts_the_model_cannot_take_are_refused_at_submit(make: Make, single: Runtime) -> None:
    engine = make(1, 0)
    with pytest.raises(ValueError, match="token id 512 is outside the model's vocabulary"):
        engine.submit([5, 512], Settings())
    with pytest.raises(ValueError, match="no tokens"):
        engine.submit([], Settings())
    with pytest.raises(ValueError, match="max_new_tokens"):
        engine.submit([5], Settings(max_new_tokens=0))
    # Too long for the context: its first tokens are dropped, as Runtime.generate drops them.
    ids = single.encode(" ".join(PROMPTS)) * 4
    assert len(ids) > single.context_length
    completion = engine.submit(ids, Settings(max_new_tokens=8)).result(30)
    assert completion.tokens == single.generate(ids, Settings(max_new_tokens=8)).tokens
    assert completion.prompt_tokens == single.context_length - 8


def test_sampling_samples_unseeded(make: Make) -> None:
    """Static batching takes no per-request seed (the library refuses one): sampled sequences run, and differ."""
    engine = make(2, 0)
    ids = engine.runtime.encode(PROMPTS[0])
    greedy = engine.submit(ids, Settings(max_new_tokens=12)).result(30)
    sampled = [engine.submit(ids, Settings(max_new_tokens=12, temperature=1.0, top_p=0.95, seed=1)).result(30) for _ in range(3)]
    assert len({c.tokens for c in sampled} | {greedy.tokens}) > 1 and all(c.finish != "stop" for c in sampled)


def test_close_cancels_what_is_in_flight_and_refuses_more(make: Make) -> None:
    registry = CollectorRegistry()
    metrics = Held(registry, 1)
    engine = make(1, 1, metrics)
    ids = engine.runtime.encode(PROMPTS[0])
    running: Generation = engine.submit(ids, Settings(max_new_tokens=400))
    assert metrics.reached(1)
    waiting = engine.submit(ids, Settings(max_new_tokens=400))
    closer = threading.Thread(target=engine.close, args=(30,))
    closer.start()
    while not engine._closed:  # close() says so before its message goes to the thread
        threading.Event().wait(0.001)
    metrics.release(1)
    closer.join(30)
    assert not closer.is_alive() and not engine._thread.is_alive()  # close() returned: the thread ended
    assert running.result(1).finish == waiting.result(1).finish == "cancelled"
    assert all(isinstance(d, Delta) for d in running)
    with pytest.raises(RuntimeError, match="closed"):
        engine.submit(ids, Settings())
