"""text-generation's Prometheus metrics, on the server's registry (routes.RouteContext.registry): what a user of a
language model feels (time to the first token, tokens per second) and what the engine holds (queue, batch).

The names are fixed: the monitoring alerts ml-ci renders (time_to_first_token_p95_ms, min_tokens_per_second) read
`mlci_time_to_first_token_seconds` and `mlci_tokens_per_second`. The counters are exposed with prometheus_client's
`_total` suffix: mlci_prompt_tokens_total, mlci_generated_tokens_total, mlci_sequences_total{finish}.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from ml_ci.tasks.text_generation.runtime import Completion

# From a few milliseconds (a tiny model, nothing queued) to a minute (a long queue behind static batches).
TTFT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# Decode speed of one sequence: a large model on a CPU (~1/s) to a tiny one (thousands).
SPEED_BUCKETS = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0)
FINISHES = ("eos", "length", "stop", "cancelled", "failed")


class GenerationMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.time_to_first_token = Histogram(
            "mlci_time_to_first_token_seconds",
            "From a sequence's submission to its first new token (the wait in the queue included).",
            buckets=TTFT_BUCKETS,
            registry=registry,
        )
        self.tokens_per_second = Histogram(
            "mlci_tokens_per_second",
            "Each finished sequence's decode speed: its tokens after the first over the time after the first.",
            buckets=SPEED_BUCKETS,
            registry=registry,
        )
        self.prompt_tokens = Counter("mlci_prompt_tokens", "Prompt tokens of the sequences started.", registry=registry)
        self.generated_tokens = Counter("mlci_generated_tokens", "Tokens generated.", registry=registry)
        self.queue_depth = Gauge("mlci_queue_depth", "Sequences submitted and not yet started.", registry=registry)
        self.running = Gauge("mlci_running_sequences", "Sequences in the engine's batch.", registry=registry)
        self.sequences = Counter("mlci_sequences", "Sequences ended, by how they ended.", ["finish"], registry=registry)
        for finish in FINISHES:
            self.sequences.labels(finish=finish)  # every series exists from the start (rate() needs a first sample)

    def first_token(self, seconds: float) -> None:
        self.time_to_first_token.observe(seconds)

    def token(self) -> None:
        self.generated_tokens.inc()

    def finished(self, completion: Completion) -> None:
        """A sequence ended (its tokens were counted as they came, so that the rate moves during a long one)."""
        self.sequences.labels(finish=completion.finish).inc()
        speed = completion.tokens_per_second
        if speed is not None:
            self.tokens_per_second.observe(speed)

    def failed(self) -> None:
        self.sequences.labels(finish="failed").inc()
