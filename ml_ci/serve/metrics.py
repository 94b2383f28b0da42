"""Prometheus metrics of one server, on its own registry (so that tests can run several servers).

prometheus_client is pure Python and about 200 KB installed, against tens of MB for onnxruntime:
writing the exposition format by hand would not make the image noticeably smaller.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# The *_created series double the exposition for no use here (process start is in process metrics).
disable_created_metrics()  # type: ignore[no-untyped-call]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


class ServerMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("mlci_requests", "HTTP requests by path and status.", ["path", "status"], registry=self.registry)
        self.latency = Histogram(
            "mlci_request_latency_seconds",
            "Time to answer a prediction request.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram("mlci_batch_size", "Texts per model call.", buckets=BATCH_BUCKETS, registry=self.registry)
        self.batch_latency = Histogram(
            "mlci_batch_latency_seconds", "Time of one model call.", buckets=LATENCY_BUCKETS, registry=self.registry
        )
        self.texts = Counter("mlci_texts", "Texts classified.", registry=self.registry)
        self.errors = Counter("mlci_errors", "Refused or failed requests by kind.", ["kind"], registry=self.registry)
        self.connections = Gauge(
            "mlci_open_connections", "Client connections being served (at most max_connections).", registry=self.registry
        )
        self.in_flight = Gauge("mlci_in_flight_requests", "Requests being answered.", registry=self.registry)
        self.ready = Gauge("mlci_ready", "1 once the model is loaded and warmed up.", registry=self.registry)

    def observe_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.batch_latency.observe(seconds)
        self.texts.inc(size)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
