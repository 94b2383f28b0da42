"""The server's settings, a plain dataclass so that the image needs no config loader."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Limits:
    max_batch_size: int = 32
    max_batch_delay_ms: float = 5.0
    max_body_bytes: int = 1_048_576
    max_texts: int = 256
    max_text_chars: int = 10_000
    threads: int = 0
    # Longest wait for a prediction before answering 503; protects clients from a stuck batch.
    request_timeout_s: float = 30.0
    # Idle keep-alive connections are closed after this, so that shutdown never waits on them for long.
    idle_timeout_s: float = 15.0
    # From a request's first byte to its last (request line, headers and body): 408 beyond. A per-read
    # timeout alone lets a client that sends one byte every few seconds hold its thread for ever.
    request_read_timeout_s: float = 10.0
    # Open connections (one thread each); beyond it a new connection is answered 503 at once and closed.
    max_connections: int = 256
    # After SIGTERM: /readyz answers 503 at once, but the server keeps accepting and answering (each
    # answer says `Connection: close`) for this long, so that requests routed before the load balancer
    # noticed are served; then it stops accepting, finishes what is in flight and exits 0.
    drain_seconds: float = 5.0
    # A second port for kubelet's probes only (GET /healthz, /readyz), apart from max_connections and the
    # main port's accept queue, so that a flood of clients cannot fail liveness; 0: none. The Deployment sets
    # it and probes it; its Service does not expose it (ml_ci/serve/server.py says why a port of its own).
    probe_port: int = 0
    # Models that generate tokens (a task's own routes, e.g. text-generation's OpenAI-compatible API): the most
    # new tokens one request may ask for (400 beyond); the longest prompt in tokens (0: the model's context less
    # the new tokens asked; 400 beyond); how many sequences generate at once (the engine's batch); and how many
    # more may wait for a place (429 beyond, with Retry-After).
    max_tokens: int = 512
    max_prompt_tokens: int = 0
    max_sequences: int = 8
    max_queued: int = 64
